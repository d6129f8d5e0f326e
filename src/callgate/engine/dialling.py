"""Dialling one call: from `CallInitiated` to its answer, or to its final status when nobody answers.

`Dialling` is the part of `CallRunner` (runner.py) that asks the dialer for a leg, opens its media
and sends the INVITE: the leg's `ringing` becomes `CallRinging`, its `DialResult` `CallAnswered` or
a final `CallBusy`, `CallNotAnswered`, `CallFailed` (`_terminal_event`), and a call canceled
meanwhile (the API, a <Dial> whose other party answered, a shutdown) `CallCanceled`. The runner
owns the state this reads and writes, and how an event is written (`_apply`, `_settle`).
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from datetime import datetime
from typing import Any

from callgate.core.call import Call
from callgate.core.events import (
    CallAnswered,
    CallBusy,
    CallCanceled,
    CallEvent,
    CallFailed,
    CallInitiated,
    CallNotAnswered,
    CallRinging,
)
from callgate.core.notices import Notice, NoticeKind
from callgate.core.status import CallStatus
from callgate.engine.call_recordings import CallRecordings
from callgate.engine.shared import Engine
from callgate.telephony.aio.leg import CallLeg, DialResult, Outcome
from callgate.telephony.aio.media import RtpStream
from callgate.telephony.routing import Unroutable, byoc_trunk


def _terminal_event(result: DialResult) -> type[CallEvent]:
    if result.outcome in (Outcome.BUSY, Outcome.DECLINED):
        return CallBusy
    if result.outcome is Outcome.NO_ANSWER:
        return CallNotAnswered
    return CallFailed


class Dialling(ABC):
    """The dialling of a `CallRunner`, which sets these attributes and writes the events."""

    engine: Engine
    call: Call
    leg: CallLeg | None
    media: RtpStream | None
    recordings: CallRecordings
    _dial: asyncio.Task[DialResult] | None
    _ended_by_api: asyncio.Event
    _stopping: asyncio.Event
    _aborted: bool

    @abstractmethod
    async def _apply(self, event: CallEvent, **changes: Any) -> Call | None:
        """Write an event; None if the call already ended (through the API)."""

    @abstractmethod
    async def _settle(self, sip_code: int | None, data: dict[str, Any] | None = None) -> None:
        """The call ended elsewhere (the API): add what only the runner knows."""

    @abstractmethod
    def _now(self) -> datetime: ...

    def _given_up(self) -> bool:
        """Ended through the API, or aborted, before the INVITE went out."""
        return self._aborted or self._ended_by_api.is_set()

    async def _connect(self, timeout_s: int) -> bool:
        engine, call = self.engine, self.call
        queue_ms = max(0, int((engine.clock() - call.created_at).total_seconds() * 1000))
        if await self._apply(CallInitiated(), queue_time_ms=queue_ms) is None:
            return False
        options = call.options
        credentials = (
            (options.sip_auth_username, options.sip_auth_password or "")
            if options.sip_auth_username
            else None
        )
        byoc = None
        if options.byoc and call.to.startswith("+"):  # the seed: Byoc only routes phone numbers
            byoc = byoc_trunk(engine.dialer.trunks, options.byoc, str(call.account_id))
        # CallReason reaches the far end as the INVITE's Subject (RFC 3261 20.36).
        headers = (("Subject", options.call_reason),) if options.call_reason else ()
        try:
            leg = await engine.dialer.leg(
                call.to,
                from_user=options.caller_id or call.from_,
                credentials=credentials,
                extra_headers=headers,
                byoc=byoc,
            )
        except Unroutable as exc:
            await engine.notify(call, Notice(NoticeKind.UNROUTABLE, f"Cannot call {call.to}: {exc}"))
            await self._apply(CallFailed({"reason": str(exc)}), end_time=self._now())
            return False
        if self._given_up():
            return await self._not_dialled()
        self.leg = leg
        self.media = leg.media = await RtpStream.open(
            engine.media_host, shared=engine.media_shared, clock=engine.media_clock
        )
        self.recordings.media = self.media
        if self._given_up():
            return await self._not_dialled()
        # Twilio's start_time: when the call was dialled (empty only before that); once answered, the
        # answer (durations and prices count from it).
        dialled = self._now()
        self._dial = asyncio.ensure_future(leg.dial(timeout_s=timeout_s))
        ringing = asyncio.ensure_future(leg.ringing.wait())
        try:
            await asyncio.wait({self._dial, ringing}, return_when=asyncio.FIRST_COMPLETED)
            if ringing.done() and not self._dial.done():
                await self._apply(CallRinging(), start_time=dialled)
            try:
                result = await self._dial
            except asyncio.CancelledError:
                if self._aborted:
                    by = "shutdown" if self._stopping.is_set() else "dial"
                    canceled = CallCanceled({"by": by})
                    if await self._apply(canceled, end_time=self._now(), start_time=dialled) is None:
                        await self._settle(487)
                    return False
                if not self._ended_by_api.is_set():
                    raise
                await self._settle(487)
                return False
        finally:
            ringing.cancel()
        if leg.ringing.is_set() and self.call.status is CallStatus.QUEUED:
            # The 180 and the final answer came in the same turn of the loop: it did ring.
            await self._apply(CallRinging(), start_time=dialled)
        if result.outcome is not Outcome.ANSWERED:
            event = _terminal_event(result)
            moved = await self._apply(
                event({"sip": result.status, "reason": result.reason}),
                start_time=dialled,
                end_time=self._now(),
                sip_result_code=result.status,
            )
            if moved is None:
                await self._settle(result.status)
            return False
        answered = await self._apply(
            CallAnswered(), start_time=self._now(), sip_call_id=leg.call_id, sip_result_code=200
        )
        if answered is None:
            await leg.hangup()
            await self._settle(200)
            return False
        return True

    async def _not_dialled(self) -> bool:
        """Canceled (by the API, a <Dial> or a shutdown) before the INVITE was sent: nobody rang."""
        if not self._ended_by_api.is_set():
            await self._apply(CallCanceled({"by": "dial" if not self._stopping.is_set() else "shutdown"}),
                              end_time=self._now())  # fmt: skip
        return False


__all__ = ["Dialling"]
