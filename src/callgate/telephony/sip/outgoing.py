"""An outgoing INVITE from the caller's side, until its final response: ringing, early answers, the
dial timeout and the CANCEL it sends (RFC 3261 9.1), without a clock or a socket.

Theory of operation. The INVITE client transaction (transaction.py) retransmits and times out the
INVITE; this machine sits above it and decides what the call does with what the transaction reports.

    CALLING     the INVITE is out; the dial deadline is the timer.
                a 1xx: remembered (a CANCEL may now be sent); 180/183 give `Ringing`, one with SDP
                an `EarlyAnswer`. A final response (or Timer B, or a transport failure) ends it.
                the deadline: `timed_out`; with a 1xx seen, the CANCEL goes (-> CANCELING), else the
                CANCEL must wait for one (-> WAITING; 9.1: a CANCEL before any 1xx is not allowed).
    WAITING     no timer: the first 1xx sends the CANCEL (-> CANCELING).
    CANCELING   64*T1 after the CANCEL without a final response, the attempt is over (`Finished(None)`).
    TERMINATED  `Finished` was given: the final response, None (nothing final came) or the
                transport's failure. A 2xx after `timed_out` is the caller's to hang up.

The responses also go to the `UacInvite` (dialog.py), whose ACKs come out of `requests_to_send`
with the CANCEL. The shell feeds the transaction's events and the timer (`handle_event`,
`handle_timer`, both with `now`), sends `requests_to_send()` (a CANCEL to where the INVITE went, the
rest to the dialog's next hop), acts on `next_event()` and sleeps until `get_timer()`.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from enum import Enum

from callgate.telephony.sip.dialog import UacInvite, build_cancel
from callgate.telephony.sip.message import Request, Response
from callgate.telephony.sip.transaction import Event as TransactionEvent
from callgate.telephony.sip.transaction import ResponseReceived, TimedOut, TransportFailed


class State(Enum):
    CALLING = "Calling"
    WAITING = "Waiting"  # the deadline passed before any provisional response: the CANCEL waits
    CANCELING = "Canceling"
    TERMINATED = "Terminated"


@dataclass(frozen=True, slots=True)
class Ringing:
    response: Response


@dataclass(frozen=True, slots=True)
class EarlyAnswer:
    """A provisional response with a body (an SDP answer: early media, RFC 3960)."""

    response: Response


@dataclass(frozen=True, slots=True)
class Finished:
    """The INVITE's final response; None when none came (Timer B, or none after our CANCEL)."""

    result: Response | TransportFailed | None


OutgoingEvent = Ringing | EarlyAnswer | Finished


class OutgoingInvite:
    """One INVITE attempt (see the module): `uac` tracks its dialogs, `deadline` is when the dial
    times out, `cancel_limit` how long a CANCEL waits for the final response (64*T1)."""

    def __init__(self, uac: UacInvite, deadline: float, cancel_limit: float) -> None:
        self.uac = uac
        self.deadline = deadline
        self.cancel_limit = cancel_limit
        self.state = State.CALLING
        self.timed_out = False  # the dial deadline passed
        self._provisional = False
        self._canceled_at = 0.0
        self._events: deque[OutgoingEvent] = deque()
        self._to_send: list[Request] = []

    def get_timer(self) -> float | None:
        if self.state is State.CALLING:
            return self.deadline
        if self.state is State.CANCELING:
            return self._canceled_at + self.cancel_limit
        return None

    def handle_timer(self, now: float) -> None:
        timer = self.get_timer()
        if timer is None or now < timer:
            return
        if self.state is State.CANCELING:
            self._finish(None)  # no final response to our CANCEL: give up (9.1)
            return
        self.timed_out = True
        if self._provisional:
            self._cancel(now)
        else:
            self.state = State.WAITING

    def handle_event(self, event: TransactionEvent, now: float) -> None:
        """An event of the INVITE's client transaction."""
        if self.state is State.TERMINATED:
            return
        if isinstance(event, TimedOut):
            self._finish(None)
            return
        if isinstance(event, TransportFailed):
            self._finish(event)
            return
        if not isinstance(event, ResponseReceived):
            return
        response = event.response
        self._to_send.extend(self.uac.on_response(response))
        if response.status >= 200:
            self._finish(response)
            return
        self._provisional = True
        if response.status in (180, 183):
            self._events.append(Ringing(response))
        if response.body:
            self._events.append(EarlyAnswer(response))
        if self.state is State.WAITING:
            self._cancel(now)

    def next_event(self) -> OutgoingEvent | None:
        return self._events.popleft() if self._events else None

    def requests_to_send(self) -> list[Request]:
        """The requests to send now: ACKs (and BYEs of extra 2xx) from the dialogs, and the CANCEL."""
        out, self._to_send = self._to_send, []
        return out

    def _cancel(self, now: float) -> None:
        self._to_send.append(build_cancel(self.uac.invite))
        self.state, self._canceled_at = State.CANCELING, now

    def _finish(self, result: Response | TransportFailed | None) -> None:
        self.state = State.TERMINATED
        self._events.append(Finished(result))
