"""The life of one call, from the worker's claim to its last figures.

initiated -> route -> INVITE (ringing) -> answered | busy | no-answer | failed | canceled
answered  -> SendDigits -> the document (Url, the application's VoiceUrl, or inline) -> hang up
Every move is written through `CallService.apply`, which puts the status callbacks it causes into
the outbox in the same transaction. A call ended through the API while it runs is hung up here; its
last figures (SIP code, audio quality) are then written as `CallSettled`.

The runner keeps the call's lifecycle; its dialling up to the answer (`dialling.py`, a base class
of the runner's), its recordings (`call_recordings.py`), who answered (`detection.py`), its
<Dial>'s child calls (`children.py`) and its audio figures (`quality.py`) are jobs of their own.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime
from typing import Any

from callgate.core.call import Account, Call
from callgate.core.events import CallEnded, CallEvent, CallFailed, CallSettled, CallUpdated
from callgate.core.notices import Notice, NoticeKind
from callgate.core.status import TERMINAL, CallStatus, InvalidTransition
from callgate.engine import detection, quality
from callgate.engine.call_recordings import CallRecordings
from callgate.engine.children import Children
from callgate.engine.dialling import Dialling
from callgate.engine.session import Inline, Session
from callgate.engine.shared import Engine
from callgate.engine.verbs.base import Goto
from callgate.telephony.aio.leg import CallLeg, DialResult
from callgate.telephony.aio.media import RtpStream

log = logging.getLogger("callgate.engine")

REPORT_GRACE_S = 5.0  # how long a verb may go on reporting after the far end hangs up


class CallRunner(Dialling):
    """Runs one claimed call to its end."""

    def __init__(self, engine: Engine, call: Call, account: Account) -> None:
        self.engine = engine
        self.call = call
        self.account = account
        self.face = engine.faces.get(call.options.dialect) or next(iter(engine.faces.values()))
        self.leg: CallLeg | None = None
        self.media: RtpStream | None = None
        self.session: Session | None = None
        self._ended_by_api = asyncio.Event()
        self._stopping = asyncio.Event()  # the worker is shutting down
        self._limit_changed = asyncio.Event()  # TimeLimit changed through the API
        self._dial: asyncio.Task[DialResult] | None = None
        self.recordings = CallRecordings(engine, self.face, lambda: self.call)
        self.amd = detection.AnswerDetection(engine, self.face, lambda: self.call, self._apply)

    # the API's changes to a running call (through CallService listeners)

    def changed(self, call: Call, event: CallEvent) -> None:
        self.call = call
        if self.session is not None:
            self.session.call = call
        if call.status in TERMINAL:
            self._ended_by_api.set()
            if self._dial is not None and not self._dial.done():
                self._dial.cancel()  # the leg sends CANCEL (or BYE, if it was answered meanwhile)
            return
        if isinstance(event, CallUpdated) and "time_limit_s" in event.data.get("changed", ()):
            self._limit_changed.set()
        if isinstance(event, CallUpdated) and "recordings" in event.data.get("changed", ()):
            self.recordings.sync_soon()
        if isinstance(event, CallUpdated) and self.session is not None:
            changed = set(event.data.get("changed", ()))
            options = call.options
            if "markup" in changed and options.markup:
                self.session.interrupt(Inline(options.markup))
            elif "url" in changed and options.url:
                self.session.interrupt(Goto(options.url, options.method, kind="api"))

    async def _apply(self, event: CallEvent, **changes: Any) -> Call | None:
        """Write an event; None if the call already ended (through the API)."""
        try:
            self.call = await self.engine.calls.apply(
                account_id=self.call.account_id,
                call_id=self.call.id,
                event=event,
                current=self.call,
                **changes,
            )
        except InvalidTransition:
            return None
        if self.session is not None:
            self.session.call = self.call
        return self.call

    def _child(self, call: Call, account: Account) -> CallRunner:
        """The runner of one of this call's <Dial> parties."""
        return CallRunner(self.engine, call, account)

    def _now(self) -> datetime:
        return self.engine.clock().replace(microsecond=0)

    async def run(self) -> None:
        try:
            await self._run()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.exception("call %s: the runner failed", self.call.id)
            with contextlib.suppress(Exception):
                failed = Notice(NoticeKind.INTERNAL_FAILURE, f"Callgate failed running the call: {exc}")
                await self.engine.notify(self.call, failed)
            with contextlib.suppress(Exception):
                if self.call.status is CallStatus.IN_PROGRESS and self.leg is not None:
                    await self.end(by="error")
                else:
                    await self._apply(CallFailed({"reason": "internal error"}), end_time=self._now())
        finally:
            if self.media is not None:
                self.media.close()
            # The lease goes only with a final status: otherwise the reaper must still find the call.
            if self.call.status in TERMINAL:
                await self.engine.store.end_run(self.call.id)

    def shutdown(self) -> None:
        """The worker is stopping: end the call the normal way (hang up, or cancel the dialling)."""
        self._stopping.set()
        self.abort()

    async def _run(self) -> None:
        if await self.connect(self.call.options.timeout_s):
            assert self.leg is not None
            await self._talk(self.leg)

    def abort(self) -> None:
        """Stop dialling (a <Dial> whose other target answered first): the leg is canceled."""
        self._aborted = True
        if self._dial is not None and not self._dial.done():
            self._dial.cancel()

    _aborted = False

    async def connect(self, timeout_s: int) -> bool:
        """Dial the call and write what happens, up to its answer; True if it was answered.

        Not answered (busy, no-answer, failed, canceled through the API or by `abort`), the call has
        its final status when this returns, and its media is closed.
        """
        try:
            answered = await self._connect(timeout_s)
        except BaseException:
            if self.media is not None:
                self.media.close()
            raise
        if not answered and self.media is not None:
            self.media.close()
        return answered

    async def _talk(self, leg: CallLeg) -> None:
        options = self.call.options
        assert self.media is not None
        session = self.session = Session(
            self.engine, self.call, self.account, self.face, self.media, leg.remote_hangup
        )
        session.call_recordings = self.recordings
        session.children = Children(self.engine, session, self._child)
        if options.record:
            await self.recordings.start_call_recording(options)
        work = asyncio.ensure_future(self._converse(session))
        stops: dict[asyncio.Future[Any], str | None] = {
            asyncio.ensure_future(leg.remote_hangup.wait()): "remote",
            asyncio.ensure_future(self._ended_by_api.wait()): "api",
            asyncio.ensure_future(self._stopping.wait()): "shutdown",
        }
        by: str | None = None
        ended_at: datetime | None = None
        try:
            by = await self._until_done(work, stops)
            ended_at = self._now()
        finally:
            for task in stops:
                task.cancel()
            if by == "remote" and not work.done():
                # The far end hung up: the verb under way may still report it (a <Record> requests its
                # action with Digits=hangup); it gets a moment to, then it is stopped.
                await asyncio.wait({work}, timeout=REPORT_GRACE_S)
            work.cancel()
            try:
                await work
            except asyncio.CancelledError:
                pass
            except Exception as exc:
                # A verb that failed: say so (log and debugger), then end the call as usual.
                log.exception("call %s: a verb failed", self.call.id)
                failed = Notice(NoticeKind.INTERNAL_FAILURE, f"A verb failed: {exc}")
                await self.engine.notify(self.call, failed)
            await asyncio.shield(self.end(by, at=ended_at))

    async def _until_done(
        self, work: asyncio.Future[Any], stops: dict[asyncio.Future[Any], str | None]
    ) -> str | None:
        """Wait for the document to end, a stop (the far end, the API, a shutdown) or TimeLimit, which
        the API may change meanwhile. Who or what ended it (None: the document or the far end)."""
        loop = asyncio.get_running_loop()
        answered = loop.time()  # start_time is stored in whole seconds: the limit counts from here
        while True:
            limit = self.call.options.time_limit_s
            left = limit - (loop.time() - answered)
            self._limit_changed.clear()
            changed: asyncio.Future[Any] = asyncio.ensure_future(self._limit_changed.wait())
            try:
                done, _ = await asyncio.wait(
                    {work, changed, *stops}, timeout=max(0.0, left), return_when=asyncio.FIRST_COMPLETED
                )
            finally:
                changed.cancel()
            if not done:
                return "time-limit"
            for task in done:
                if task in stops:
                    return stops[task]
            if work in done:
                return None

    @property
    def ended_elsewhere(self) -> asyncio.Event:
        """Set when the call was ended through the API (or on another node)."""
        return self._ended_by_api

    _ended = False

    async def end(self, by: str | None = None, *, at: datetime | None = None) -> None:
        """Hang up an answered call (unless the far end did) and write its end: duration, quality.
        Once: a second call does nothing."""
        if self._ended:
            return
        self._ended = True
        self.recordings.close()
        self.amd.stop()  # detection still going ends with the call, and says what it knows
        leg = self.leg
        assert leg is not None
        end = at or self._now()  # the call ends now, not when the far end answers our BYE
        by = by or ("remote" if leg.remote_hangup.is_set() else "callgate")
        if not leg.remote_hangup.is_set():
            with contextlib.suppress(Exception):
                await leg.hangup()
        if self.media is not None:
            self.media.close()
        await self.amd.finished()  # answered_by is written before the end
        start = self.call.start_time
        duration = 0 if start is None else max(0, int((end - start).total_seconds()))
        data: dict[str, Any] = {"by": by or ("remote" if leg.remote_hangup.is_set() else "callgate")}
        await self.recordings.finish_started()
        data.update(await self.recordings.finish_call_recording())
        price = self.engine.calls.rates.price(self.call.to, duration)
        moved = await self._apply(
            CallEnded(data),
            end_time=end,
            duration_s=duration,
            quality=quality.measured(self.media, self.call.quality),
            price=price,
        )
        if moved is None:
            await self._settle(200, data)

    async def _converse(self, session: Session) -> None:
        options = self.call.options
        if options.send_digits:
            await session.press(options.send_digits)
        amd = detection.amd_settings(options)
        if amd is not None:
            assert self.media is not None and self.leg is not None
            # A task of its own, which the call's end lets finish (`end`): the result is written even
            # when the document is stopped meanwhile (the API ended the call).
            detecting = self.amd.start(amd, self.media, self.leg.remote_hangup)
            if not options.async_amd:  # the document waits for the result, and its request says who answered
                await asyncio.shield(detecting)
        if options.markup:
            await session.run(Inline(options.markup))
            return
        url, method = options.url, options.method
        if url is None and options.application_id is not None:
            app = await self.engine.store.get_application(self.call.account_id, options.application_id)
            if app is not None:
                url, method = app.voice_url, app.voice_method
        if url is None:
            return
        await session.run(Goto(url, method, kind="voice"))

    async def _settle(self, sip_code: int | None, data: dict[str, Any] | None = None) -> None:
        """The call ended elsewhere (the API): add what only the runner knows."""
        with contextlib.suppress(InvalidTransition):
            changes: dict[str, Any] = {"quality": quality.measured(self.media, self.call.quality)}
            if sip_code is not None:
                changes["sip_result_code"] = sip_code
            await self._apply(CallSettled(data or {}), **changes)


__all__ = ["CallRunner"]
