"""Client and server transactions (RFC 3261 17) as pure state machines.

Theory of operation: a transaction is fed requests or responses (`receive`) and timer expiries
(`handle_timer(now)`), and answers with messages to send (`datagrams_to_send`) and events for the
transaction user (`next_event`). It never reads a clock: every input carries `now`, and `get_timer`
says when it next wants `handle_timer`. Everything that moves a transaction lives in the tables
below: (state, input) -> (next state, actions). An input missing from a state's row is absorbed
(a late 1xx in Completed, a stray retransmission), as RFC 3261 17 prescribes. Inputs are the response
classes ("1xx", "2xx", "final" for 300-699), requests ("request", "ack") and timers ("A", "B", ...).
Over a reliable transport (TCP) the retransmission timers never start and the wait timers are zero.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from enum import Enum

from callgate.telephony.sip.message import Request, Response, response_for
from callgate.telephony.sip.timers import SipTimers


class State(Enum):
    CALLING = "Calling"
    TRYING = "Trying"
    PROCEEDING = "Proceeding"
    COMPLETED = "Completed"
    CONFIRMED = "Confirmed"
    ACCEPTED = "Accepted"  # RFC 6026
    TERMINATED = "Terminated"


S = State
Row = tuple[State, tuple[str, ...]]

# RFC 3261 17.1.1, figure 5
INVITE_CLIENT: dict[tuple[State, str], Row] = {
    (S.CALLING, "1xx"): (S.PROCEEDING, ("pass", "stop A")),
    (S.CALLING, "2xx"): (S.TERMINATED, ("pass",)),
    (S.CALLING, "final"): (S.COMPLETED, ("ack", "pass", "stop A", "stop B", "start D")),
    (S.CALLING, "A"): (S.CALLING, ("send", "double A")),
    (S.CALLING, "B"): (S.TERMINATED, ("timeout",)),
    (S.PROCEEDING, "1xx"): (S.PROCEEDING, ("pass",)),
    (S.PROCEEDING, "2xx"): (S.TERMINATED, ("pass",)),
    (S.PROCEEDING, "final"): (S.COMPLETED, ("ack", "pass", "stop B", "start D")),
    (S.COMPLETED, "final"): (S.COMPLETED, ("ack",)),
    (S.COMPLETED, "D"): (S.TERMINATED, ()),
}

# RFC 3261 17.1.2, figure 6
NON_INVITE_CLIENT: dict[tuple[State, str], Row] = {
    (S.TRYING, "1xx"): (S.PROCEEDING, ("pass",)),
    (S.TRYING, "2xx"): (S.COMPLETED, ("pass", "stop E", "stop F", "start K")),
    (S.TRYING, "final"): (S.COMPLETED, ("pass", "stop E", "stop F", "start K")),
    (S.TRYING, "E"): (S.TRYING, ("send", "double E")),
    (S.TRYING, "F"): (S.TERMINATED, ("timeout",)),
    (S.PROCEEDING, "1xx"): (S.PROCEEDING, ("pass",)),
    (S.PROCEEDING, "2xx"): (S.COMPLETED, ("pass", "stop E", "stop F", "start K")),
    (S.PROCEEDING, "final"): (S.COMPLETED, ("pass", "stop E", "stop F", "start K")),
    (S.PROCEEDING, "E"): (S.PROCEEDING, ("send", "E at T2")),
    (S.PROCEEDING, "F"): (S.TERMINATED, ("timeout",)),
    (S.COMPLETED, "K"): (S.TERMINATED, ()),
}

# RFC 3261 17.2.1, figure 7, with RFC 6026's Accepted state (a 2xx no longer ends the transaction:
# for 64*T1 it absorbs the INVITE's retransmissions and lets the user's 2xx retransmissions through).
# "respond 1xx/2xx/final" are the transaction user's responses. Timer Y is 17.2.1's 200 ms after which
# the transaction itself sends 100 Trying if the user has said nothing.
INVITE_SERVER: dict[tuple[State, str], Row] = {
    (S.PROCEEDING, "Y"): (S.PROCEEDING, ("send trying",)),
    (S.PROCEEDING, "request"): (S.PROCEEDING, ("resend response",)),
    (S.PROCEEDING, "respond 1xx"): (S.PROCEEDING, ("send response", "stop Y")),
    (S.PROCEEDING, "respond 2xx"): (S.ACCEPTED, ("send response", "stop Y", "start L")),
    (S.PROCEEDING, "respond final"): (S.COMPLETED, ("send response", "stop Y", "start G", "start H")),
    (S.ACCEPTED, "respond 2xx"): (S.ACCEPTED, ("send response",)),
    (S.ACCEPTED, "L"): (S.TERMINATED, ()),
    (S.COMPLETED, "request"): (S.COMPLETED, ("resend response",)),
    (S.COMPLETED, "G"): (S.COMPLETED, ("resend response", "double G")),
    (S.COMPLETED, "ack"): (S.CONFIRMED, ("stop G", "stop H", "start I")),
    (S.COMPLETED, "H"): (S.TERMINATED, ("timeout",)),
    (S.CONFIRMED, "I"): (S.TERMINATED, ()),
}

# RFC 3261 17.2.2, figure 8. Timer W (ours): a request its user never answers is forgotten after
# 64*T1, when the client has long given up (Timer F), so unanswered requests cannot pile up.
NON_INVITE_SERVER: dict[tuple[State, str], Row] = {
    (S.TRYING, "W"): (S.TERMINATED, ()),
    (S.PROCEEDING, "W"): (S.TERMINATED, ()),
    (S.TRYING, "respond 1xx"): (S.PROCEEDING, ("send response",)),
    (S.TRYING, "respond 2xx"): (S.COMPLETED, ("send response", "start J")),
    (S.TRYING, "respond final"): (S.COMPLETED, ("send response", "start J")),
    (S.PROCEEDING, "request"): (S.PROCEEDING, ("resend response",)),
    (S.PROCEEDING, "respond 1xx"): (S.PROCEEDING, ("send response",)),
    (S.PROCEEDING, "respond 2xx"): (S.COMPLETED, ("send response", "start J")),
    (S.PROCEEDING, "respond final"): (S.COMPLETED, ("send response", "start J")),
    (S.COMPLETED, "request"): (S.COMPLETED, ("resend response",)),
    (S.COMPLETED, "J"): (S.TERMINATED, ()),
}


@dataclass(frozen=True, slots=True)
class ResponseReceived:
    """A response for the transaction user (every 1xx, 2xx and the first final one)."""

    response: Response


@dataclass(frozen=True, slots=True)
class TimedOut:
    """Timer B, F or H fired: no answer (the user reports 408; RFC 3261 8.1.3.1)."""

    timer: str


@dataclass(frozen=True, slots=True)
class TransportFailed:
    """The transport could not carry the request (a refused TCP connection, ...): RFC 3261 17.1.4
    says the user treats it as a 503 (8.1.3.1)."""

    reason: str


@dataclass(frozen=True, slots=True)
class Terminated:
    """The transaction is over and may be forgotten."""


Event = ResponseReceived | TimedOut | TransportFailed | Terminated


def response_class(status: int) -> str:
    return "1xx" if status < 200 else "2xx" if status < 300 else "final"


class Transaction:
    """What the four kinds share: the table interpreter, timers, outgoing bytes and events."""

    table: dict[tuple[State, str], Row]
    initial: State

    def __init__(self, request: Request, *, reliable: bool, timers: SipTimers, now: float) -> None:
        #: the request; None once the transaction only waits for its last timer (see `_release`)
        self.request: Request | None = request
        self.reliable = reliable
        self.timers = timers
        self.state = self.initial
        self.branch = request.vias[0].branch if request.headers.get("Via") else None
        self._durations = _durations(timers, reliable)
        self._deadlines: dict[str, float] = {}
        self._intervals: dict[str, float] = {}
        self._outbox: list[bytes] = []
        self._events: deque[Event] = deque()
        #: whether a server transaction's user has responded
        self.answered = False
        self._last_wire: bytes | None = None  # what a retransmission sends again

    # the driving API (aioquic style)

    def datagrams_to_send(self) -> list[bytes]:
        out, self._outbox = self._outbox, []
        return out

    def next_event(self) -> Event | None:
        return self._events.popleft() if self._events else None

    def get_timer(self) -> float | None:
        """The earliest deadline, or None."""
        return min(self._deadlines.values(), default=None)

    def handle_timer(self, now: float) -> None:
        """Fire every timer due at `now`, earliest first."""
        while self._deadlines:
            name, deadline = min(self._deadlines.items(), key=lambda item: item[1])
            if deadline > now:
                return
            del self._deadlines[name]
            self._input(name, now)

    # the interpreter

    def _input(self, name: str, now: float, message: Response | None = None) -> None:
        row = self.table.get((self.state, name))
        if row is None:
            return  # absorbed: RFC 3261 17 drops it in this state
        self.state, actions = row
        for action in actions:
            self._act(action, now, message)
        if self.state is State.TERMINATED:
            self._deadlines.clear()
            self._events.append(Terminated())
        elif self.state in self.waiting and self.request is not None:
            self._release()

    #: the states in which the transaction only absorbs retransmissions until a timer ends it
    waiting: frozenset[State] = frozenset()

    def _release(self) -> None:
        """Let go of the messages: from here on the transaction sends, at most, the bytes it sent
        last. A busy endpoint has thousands of transactions waiting out Timers D, J, K or L (up to
        32 s each); holding their parsed messages kept a few dozen objects each alive, and every
        full garbage collection walked them all."""
        self.request = None

    def _act(self, action: str, now: float, message: Response | None) -> None:
        verb, _, timer = action.partition(" ")
        if verb == "start":
            self._start(timer, now)
        elif verb == "stop":
            self._deadlines.pop(timer, None)
        elif verb == "double":
            self._intervals[timer] = self._next_interval(timer)
            self._deadlines[timer] = now + self._intervals[timer]
        elif action == "E at T2":
            self._deadlines["E"] = now + self.timers.t2
        elif action == "timeout":
            self._events.append(TimedOut(self._timeout_name()))
        else:
            self._act_on_message(action, message)

    def _next_interval(self, timer: str) -> float:
        doubled = 2 * self._intervals[timer]
        # RFC 3261 17.1.2.2 and 17.2.1: E and G double up to T2; A (INVITE) keeps doubling.
        return min(doubled, self.timers.t2) if timer in {"E", "G"} else doubled

    def _start(self, timer: str, now: float) -> None:
        duration = self._durations.get(timer)
        if duration is None:
            return  # 17.1.1.2, 17.1.2.2, 17.2.1: no retransmissions over a reliable transport
        self._intervals[timer] = duration
        self._deadlines[timer] = now + duration

    def _act_on_message(self, action: str, message: Response | None) -> None:
        raise NotImplementedError(action)

    def _timeout_name(self) -> str:
        raise NotImplementedError


class _ClientTransaction(Transaction):
    first_timers: tuple[str, ...] = ()
    waiting = frozenset({State.COMPLETED})

    def __init__(self, request: Request, *, reliable: bool, timers: SipTimers, now: float) -> None:
        super().__init__(request, reliable=reliable, timers=timers, now=now)
        self._wire = request.serialize()  # retransmissions send these very bytes
        self._outbox.append(self._wire)
        for timer in self.first_timers:
            self._start(timer, now)

    def receive(self, response: Response, now: float) -> None:
        """A response matched to this transaction (RFC 3261 17.1.3)."""
        self._input(response_class(response.status), now, response)

    def transport_failed(self, reason: str) -> None:
        """17.1.1.2, 17.1.2.2: a transport error before any final response ends the transaction."""
        if self.state in (State.CALLING, State.TRYING, State.PROCEEDING):
            self._events.append(TransportFailed(reason))
            self.state = State.TERMINATED
            self._deadlines.clear()
            self._events.append(Terminated())

    def _act_on_message(self, action: str, message: Response | None) -> None:
        if action == "send":
            self._outbox.append(self._wire)
        elif action == "pass":
            assert message is not None
            self._events.append(ResponseReceived(message))
        elif action == "ack":
            # The ACK of a retransmitted final response is the ACK sent for the first (17.1.1.3).
            if self._last_wire is None:
                assert message is not None and self.request is not None
                self._last_wire = ack_for(self.request, message).serialize()
            self._outbox.append(self._last_wire)
        else:  # pragma: no cover - the tables name only these
            raise AssertionError(action)


class InviteClientTransaction(_ClientTransaction):
    """Sends an INVITE; ACKs non-2xx finals itself; 2xx goes to the dialog, which ACKs it."""

    table = INVITE_CLIENT
    initial = State.CALLING
    first_timers = ("A", "B")

    def _timeout_name(self) -> str:
        return "B"


class NonInviteClientTransaction(_ClientTransaction):
    """Sends any request but INVITE and ACK."""

    table = NON_INVITE_CLIENT
    initial = State.TRYING
    first_timers = ("E", "F")

    def _timeout_name(self) -> str:
        return "F"


class _ServerTransaction(Transaction):
    waiting = frozenset({State.COMPLETED, State.CONFIRMED, State.ACCEPTED})

    def receive_request(self, request: Request, now: float) -> None:
        """A retransmission of the request, or the ACK of an INVITE's non-2xx final response."""
        self._input("ack" if request.method == "ACK" else "request", now)

    def respond(self, response: Response, now: float) -> None:
        """The transaction user's response."""
        self._input("respond " + response_class(response.status), now, response)

    def _act_on_message(self, action: str, message: Response | None) -> None:
        if action == "send response":
            assert message is not None
            self.answered = True
            self._last_wire = message.serialize()
            self._outbox.append(self._last_wire)
        elif action == "resend response":
            if self._last_wire is not None:
                self._outbox.append(self._last_wire)
        elif action == "send trying":
            assert self.request is not None
            self._last_wire = response_for(self.request, 100, "Trying").serialize()
            self._outbox.append(self._last_wire)
        else:  # pragma: no cover
            raise AssertionError(action)


class InviteServerTransaction(_ServerTransaction):
    """Receives an INVITE: 100 Trying if the user is slow (Y), retransmits a non-2xx final until ACKed
    (G), gives up after H; after a 2xx, absorbs retransmitted INVITEs for 64*T1 (L, RFC 6026)."""

    table = INVITE_SERVER
    initial = State.PROCEEDING

    def __init__(self, request: Request, *, reliable: bool, timers: SipTimers, now: float) -> None:
        super().__init__(request, reliable=reliable, timers=timers, now=now)
        self._start("Y", now)

    def _timeout_name(self) -> str:
        return "H"


class NonInviteServerTransaction(_ServerTransaction):
    """Receives any request but INVITE and ACK: answers retransmissions with the last response."""

    table = NON_INVITE_SERVER
    initial = State.TRYING

    def __init__(self, request: Request, *, reliable: bool, timers: SipTimers, now: float) -> None:
        super().__init__(request, reliable=reliable, timers=timers, now=now)
        self._start("W", now)

    def _timeout_name(self) -> str:  # pragma: no cover - has no timeout row
        return "J"


_DURATIONS: dict[tuple[SipTimers, bool], dict[str, float]] = {}


def _durations(timers: SipTimers, reliable: bool) -> dict[str, float]:
    """Each timer's first interval (RFC 3261 table 4); over a reliable transport A, E and G are
    missing: they never start (17.1.1.2, 17.1.2.2, 17.2.1). Computed once per timer set."""
    durations = _DURATIONS.get((timers, reliable))
    if durations is None:
        t = timers
        durations = {
            "A": t.t1, "B": t.timeout, "E": t.t1, "F": t.timeout, "G": t.t1, "H": t.timeout,
            "D": 0.0 if reliable else max(32.0, t.timeout), "K": 0.0 if reliable else t.t4,
            "I": 0.0 if reliable else t.t4, "J": 0.0 if reliable else t.timeout,
            "Y": 0.2, "L": t.timeout, "W": t.timeout,
        }  # fmt: skip
        if reliable:
            for timer in ("A", "E", "G"):
                del durations[timer]
        if len(_DURATIONS) < 64:
            _DURATIONS[(timers, reliable)] = durations
    return durations


def ack_for(invite: Request, response: Response) -> Request:
    """The ACK of a non-2xx final response, built by the client transaction (RFC 3261 17.1.1.3)."""
    ack = Request(method="ACK", uri=invite.uri)
    top_via = invite.headers.get_all("Via")[0]
    ack.headers.add("Via", top_via)
    for name in ("Route",):
        for value in invite.headers.get_all(name):
            ack.headers.add(name, value)
    ack.headers.add("Max-Forwards", "70")
    ack.headers.add("From", invite.headers.get("From") or "")
    ack.headers.add("To", response.headers.get("To") or "")
    ack.headers.add("Call-ID", invite.call_id)
    ack.headers.add("CSeq", f"{invite.cseq.seq} ACK")
    ack.headers.add("Content-Length", "0")
    return ack
