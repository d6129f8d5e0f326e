"""The life of one call, from the worker's claim to its last figures.

initiated -> route -> INVITE (ringing) -> answered | busy | no-answer | failed | canceled
answered  -> SendDigits -> the document (Url, the application's VoiceUrl, or inline) -> hang up
Every move is written through `CallService.apply`, which puts the status callbacks it causes into
the outbox in the same transaction. A call ended through the API while it runs is hung up here; its
last figures (SIP code, audio quality) are then written as `CallSettled`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from uuid import UUID

from callgate.core.call import Account, Call, CallQuality
from callgate.core.events import (
    CallAnswered,
    CallBusy,
    CallCanceled,
    CallEnded,
    CallEvent,
    CallFailed,
    CallInitiated,
    CallNotAnswered,
    CallRinging,
    CallSettled,
    CallUpdated,
)
from callgate.core.status import TERMINAL, CallStatus, InvalidTransition
from callgate.core.verbs import StartRecording
from callgate.engine import detection
from callgate.engine.accounts import AccountDirectory
from callgate.engine.callbacks import outgoing
from callgate.engine.calls import CallService
from callgate.engine.clock import new_id, utcnow
from callgate.engine.faces import Face, Params, RecordingRef
from callgate.engine.recordings import RecordingHandle, RecordingService
from callgate.engine.session import Inline, Session
from callgate.engine.verbs import Goto
from callgate.store.base import NotificationRecord, Recording, Store
from callgate.telephony.aio.dialer import Dialer
from callgate.telephony.aio.fetch import AudioFetcher
from callgate.telephony.aio.leg import CallLeg, DialResult, Outcome
from callgate.telephony.aio.media import RtpStream
from callgate.telephony.aio.tts import Speaker
from callgate.telephony.media.amd import AmdSettings
from callgate.telephony.routing import Unroutable, byoc_trunk
from callgate.webhooks.client import Attempt, WebhookClient, WebhookRequest
from callgate.webhooks.outbox import request_record

log = logging.getLogger("callgate.engine")

#: Twilio's debugger codes used here
UNROUTABLE = 13224  # the number or address cannot be called
REPORT_GRACE_S = 5.0  # how long a verb may go on reporting after the far end hangs up
INTERNAL_FAILURE = 12400  # Twilio's debugger: an internal failure while running the call
#: the recordings of a whole call, which the Recordings API may pause, resume and stop
CALL_RECORDINGS = ("OutboundAPI", "StartCallRecordingAPI", "StartCallRecordingTwiML")


@dataclass(frozen=True, slots=True)
class FetchedDocument:
    url: str
    status: int | None
    content_type: str | None
    body: bytes
    error_code: int | None

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")


@dataclass
class Engine:
    """What every call's runner shares: the store, the services, SIP, speech, audio, HTTP."""

    store: Store
    calls: CallService
    faces: Mapping[str, Face]
    dialer: Dialer
    http: WebhookClient
    speaker: Speaker
    audio: AudioFetcher
    recordings: RecordingService
    recordings_dir: Path
    media_host: str = "127.0.0.1"
    #: every call's RTP on the process's one shared port (`SharedRtpPort`), not on ports of its own
    media_shared: bool = False
    clock: Callable[[], datetime] = utcnow
    ids: Callable[[], UUID] = new_id
    running: dict[UUID, CallRunner] = field(default_factory=dict)
    #: the worker that runs these calls (its leases cover <Dial>'s child calls too)
    owner: str = ""
    lease_s: float = 15.0
    #: tells the outbox dispatcher there is something new to deliver
    wake_outbox: Callable[[], None] = lambda: None
    #: the accounts, cached (None: read from the store each time)
    accounts: AccountDirectory | None = None

    async def account(self, account_id: UUID) -> Account | None:
        if self.accounts is not None:
            return await self.accounts.get(account_id)
        return await self.store.get_account(account_id)

    async def notify(
        self,
        call: Call,
        code: int,
        message: str,
        *,
        level: str = "error",
        url: str | None = None,
        method: str | None = None,
    ) -> None:
        log.log(logging.WARNING if level == "warning" else logging.ERROR, "call %s: %s %s", call.id, code,
                message)  # fmt: skip
        await self.store.add_notification(
            NotificationRecord(
                id=self.ids(),
                account_id=call.account_id,
                call_id=call.id,
                created_at=self.clock(),
                level=level,
                code=code,
                message=message,
                request_url=url,
                request_method=method,
            )
        )

    async def fetch_document(
        self, call: Call, account: Account, face: Face, url: str, method: str, params: Params, *, kind: str
    ) -> FetchedDocument:
        """Request a document, signed as the call's face signs, and log every attempt."""
        delivery = await self.http.send(
            WebhookRequest(
                url=url,
                method=method.upper(),
                params=params,
                headers_for=lambda final_url, sent: face.sign(account, final_url, sent),
            )
        )
        for attempt in delivery.attempts:
            await self.log_attempt(call, kind, attempt)
        final = delivery.final
        error = None if delivery.ok else (final.error_code or 11200)
        if error is not None:
            await self.notify(call, error, final.error or f"HTTP {final.status} from {url}", url=url,
                              method=method)  # fmt: skip
        return FetchedDocument(
            url=final.url.split("#", 1)[0],
            status=final.status,
            content_type=delivery.content_type,
            body=delivery.body,
            error_code=error,
        )

    async def log_attempt(self, call: Call, kind: str, attempt: Attempt) -> None:
        await self.store.log_request(request_record(call.account_id, call.id, kind, attempt))

    async def recording_event(self, call: Call, face: Face, recording: Recording, status: str) -> None:
        """The recording's own RecordingStatusCallback for `status`, if it asked for that event."""
        url = recording.status_callback
        if not url or status not in recording.status_callback_events:
            return
        ref = RecordingRef.of(recording)
        params = face.recording_status_params(call, recording=ref, status=status)
        item = outgoing(call, kind="recording", url=url, method=recording.status_callback_method,
                        params=params, at=self.clock(), item_id=self.ids())  # fmt: skip
        await self.store.add_webhooks([item])
        self.wake_outbox()


def _terminal_event(result: DialResult) -> type[CallEvent]:
    if result.outcome in (Outcome.BUSY, Outcome.DECLINED):
        return CallBusy
    if result.outcome is Outcome.NO_ANSWER:
        return CallNotAnswered
    return CallFailed


class CallRunner:
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
        #: the call's recordings started while it runs (the Recordings API, <Start><Recording>), being written
        self._started_recordings: dict[UUID, RecordingHandle] = {}
        self._recordings_lock = asyncio.Lock()
        self._recordings_sync: asyncio.Task[None] | None = None
        self._amd_task: asyncio.Future[None] | None = None
        self._amd_stop = asyncio.Event()  # the call ends: detection says what it knows by then
        #: the recordings documents started, with the names they gave them
        self._named_recordings: list[tuple[str | None, UUID]] = []

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
            self._sync_recordings_soon()
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
                await self.engine.notify(
                    self.call, INTERNAL_FAILURE, f"Callgate failed running the call: {exc}"
                )
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

    def _given_up(self) -> bool:
        """Ended through the API, or aborted, before the INVITE went out."""
        return self._aborted or self._ended_by_api.is_set()

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
            await engine.notify(call, UNROUTABLE, f"Cannot call {call.to}: {exc}")
            await self._apply(CallFailed({"reason": str(exc)}), end_time=self._now())
            return False
        if self._given_up():
            return await self._not_dialled()
        self.leg = leg
        self.media = leg.media = await RtpStream.open(engine.media_host, shared=engine.media_shared)
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

    async def _talk(self, leg: CallLeg) -> None:
        options = self.call.options
        assert self.media is not None
        session = self.session = Session(
            self.engine, self.call, self.account, self.face, self.media, leg.remote_hangup
        )
        session.call_recordings = self
        if options.record:
            recording = self.engine.recordings.planned(
                self.call,
                source="OutboundAPI",
                channels=options.recording_channels,
                track=options.recording_track,
                trim=options.trim,
                folder=self.engine.recordings_dir,
                status_callback=options.recording_status_callback,
                status_callback_method=options.recording_status_callback_method,
                status_callback_events=options.recording_status_callback_events or ("completed",),
            )
            self._recording = await self.engine.recordings.start(recording, self.media)
            await self.engine.recording_event(self.call, self.face, self._recording.recording, "in-progress")
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
                await self.engine.notify(self.call, INTERNAL_FAILURE, f"A verb failed: {exc}")
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
        self._amd_stop.set()  # detection still going ends with the call, and says what it knows
        leg = self.leg
        assert leg is not None
        end = at or self._now()  # the call ends now, not when the far end answers our BYE
        by = by or ("remote" if leg.remote_hangup.is_set() else "callgate")
        if not leg.remote_hangup.is_set():
            with contextlib.suppress(Exception):
                await leg.hangup()
        if self.media is not None:
            self.media.close()
        if self._amd_task is not None:  # answered_by is written before the end
            (failed,) = await asyncio.gather(self._amd_task, return_exceptions=True)
            if isinstance(failed, Exception):
                log.error("call %s: machine detection failed", self.call.id, exc_info=failed)
        start = self.call.start_time
        duration = 0 if start is None else max(0, int((end - start).total_seconds()))
        data: dict[str, Any] = {"by": by or ("remote" if leg.remote_hangup.is_set() else "callgate")}
        await self._finish_started_recordings()
        data.update(await self._finish_recording())
        price = self.engine.calls.rates.price(self.call.to, duration)
        moved = await self._apply(
            CallEnded(data), end_time=end, duration_s=duration, quality=self._quality(), price=price
        )
        if moved is None:
            await self._settle(200, data)

    _recording: RecordingHandle | None = None

    # recordings controlled through the API

    def _sync_recordings_soon(self) -> None:
        """The call's recordings changed through the API: do what their rows now say, in order."""
        previous = self._recordings_sync

        async def sync() -> None:
            if previous is not None:
                await asyncio.gather(previous, return_exceptions=True)
            try:
                await self._sync_recordings()
            except Exception:
                log.exception("call %s: could not follow a change to its recordings", self.call.id)

        self._recordings_sync = asyncio.ensure_future(sync())

    async def _sync_recordings(self) -> None:
        engine = self.engine
        async with self._recordings_lock:
            if self._ended or self.media is None:
                return
            rows = await engine.recordings.of_call(self.call.account_id, self.call.id)
            for row in rows:
                if row.source not in CALL_RECORDINGS:
                    continue
                handle = self._started_recordings.get(row.id)
                if handle is None and self._recording is not None and self._recording.recording.id == row.id:
                    handle = self._recording
                if handle is None:
                    await self._begin_api_recording(row)
                elif row.status == "paused":
                    handle.recorder.pause(row.pause_behavior)
                elif row.status == "in-progress":
                    handle.recorder.resume()
                elif row.status == "stopped":
                    await self._stop_recording(handle)

    async def _begin_api_recording(self, row: Recording) -> None:
        engine = self.engine
        if row.source != "StartCallRecordingAPI" or self.media is None:
            return
        if row.status == "stopped":  # stopped before it began: nothing was recorded
            await engine.recording_event(self.call, self.face, await engine.recordings.abandon(row), "absent")
        elif row.status in ("in-progress", "paused"):
            handle = engine.recordings.attach(row, self.media, engine.recordings_dir)
            self._started_recordings[row.id] = handle
            await engine.recording_event(self.call, self.face, handle.recording, "in-progress")

    async def _stop_recording(self, handle: RecordingHandle) -> None:
        """Finish a recording before the call ends (stopped through the API) and report it."""
        if handle is self._recording:
            self._recording = None
        else:
            del self._started_recordings[handle.recording.id]
        recording = await self.engine.recordings.finish(handle)
        await self.engine.recording_event(self.call, self.face, recording, recording.status)

    async def start_twiml_recording(self, verb: StartRecording, callback_url: str | None) -> None:
        """<Start><Recording>: record the call from now on, as the API would have started it."""
        engine = self.engine
        recording = engine.recordings.planned(
            self.call, source="StartCallRecordingTwiML", channels=verb.channels, track=verb.track,
            trim=verb.trim, folder=engine.recordings_dir, status_callback=callback_url,
            status_callback_method=verb.recording_status_callback_method,
            status_callback_events=verb.recording_status_callback_events,
        )  # fmt: skip
        async with self._recordings_lock:
            if self._ended or self.media is None:
                return
            handle = await engine.recordings.start(recording, self.media)
            self._started_recordings[recording.id] = handle
            self._named_recordings.append((verb.name, recording.id))
        await engine.recording_event(self.call, self.face, handle.recording, "in-progress")

    async def stop_twiml_recording(self, name: str | None) -> None:
        """<Stop><Recording>: end the recording started under `name` (None: every one a document began)."""
        async with self._recordings_lock:
            chosen = [rid for given, rid in self._named_recordings if name is None or given == name]
            self._named_recordings = [(g, rid) for g, rid in self._named_recordings if rid not in chosen]
            for recording_id in chosen:
                handle = self._started_recordings.get(recording_id)
                if handle is not None:  # not already stopped through the API
                    await self._stop_recording(handle)

    async def _finish_started_recordings(self) -> None:
        """The call ends: every recording started while it ran (API, document) ends with it, and is
        reported."""
        if self._recordings_sync is not None:
            await asyncio.gather(self._recordings_sync, return_exceptions=True)
        async with self._recordings_lock:
            for handle in list(self._started_recordings.values()):
                with contextlib.suppress(Exception):
                    await self._stop_recording(handle)

    async def _finish_recording(self) -> dict[str, Any]:
        """End the call's recording (Record=true); what the end's callbacks say about it."""
        handle, self._recording = self._recording, None
        if handle is None:
            return {}
        recording = await self.engine.recordings.finish(handle)
        # An `absent` one is reported too (RecordingStatusCallbackEvent=absent), without its audio.
        return {"recording": RecordingRef.of(recording).to_json(), "recording_status": recording.status}

    async def _detect_machine(self, settings: AmdSettings) -> None:
        """Detect who answered (`engine/detection.py`), until known or the call ends (either side),
        write AnsweredBy on the call (what is known by then: `unknown` if nothing was decided) and,
        with AsyncAmd, send the AsyncAmdStatusCallback; with AsyncAmdPartialResults, the interim
        result (`machine_start` while a greeting goes on) goes there first."""
        assert self.media is not None and self.leg is not None
        options = self.call.options

        async def interim(answered_by: str, detection_ms: int) -> None:
            await self._amd_callback(self.call, answered_by, detection_ms)

        partials = interim if options.async_amd and options.async_amd_partial_results else None
        answered_by, took_ms = await detection.listen(settings, self.media, self.leg.remote_hangup,
                                                      self._amd_stop, partials)  # fmt: skip
        event = CallUpdated({"changed": ["answered_by"], "answered_by": answered_by, "detection_ms": took_ms})
        call = await self._apply(event, answered_by=answered_by)
        if call is None:  # ended through the API meanwhile: the result is still the call's
            call = await self._apply(CallSettled({"answered_by": answered_by}), answered_by=answered_by)
        if call is not None and options.async_amd:
            await self._amd_callback(call, answered_by, took_ms)

    async def _amd_callback(self, call: Call, answered_by: str, detection_ms: int) -> None:
        """Queue an AsyncAmdStatusCallback request, if the call has the URL."""
        options = call.options
        if not options.async_amd_status_callback:
            return
        engine = self.engine
        params = self.face.amd_params(call, answered_by=answered_by, detection_duration_ms=detection_ms)
        item = outgoing(call, kind="amd", url=options.async_amd_status_callback,
                        method=options.async_amd_status_callback_method, params=params, at=engine.clock(),
                        item_id=engine.ids())  # fmt: skip
        await engine.store.add_webhooks([item])
        engine.wake_outbox()

    async def _converse(self, session: Session) -> None:
        options = self.call.options
        if options.send_digits:
            await session.press(options.send_digits)
        amd = detection.amd_settings(options)
        if amd is not None:
            # A task of its own, which the call's end lets finish (`end`): the result is written even
            # when the document is stopped meanwhile (the API ended the call).
            self._amd_task = asyncio.ensure_future(self._detect_machine(amd))
            if not options.async_amd:  # the document waits for the result, and its request says who answered
                await asyncio.shield(self._amd_task)
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

    def _quality(self) -> CallQuality:
        if self.media is None:
            return self.call.quality
        q = self.media.quality
        stats = self.media.stats
        if stats.packets_received == 0 and q.rtt_avg_ms is None:
            return self.call.quality
        return CallQuality(
            audio_in_mos=round(q.mos(), 2),
            audio_rtt_avg_ms=None if q.rtt_avg_ms is None else round(q.rtt_avg_ms),
            audio_rtt_min_ms=None if q.rtt_min_ms is None else round(q.rtt_min_ms),
            audio_rtt_max_ms=None if q.rtt_max_ms is None else round(q.rtt_max_ms),
            audio_out_jitter_min_ms=round(q.jitter_ms) if q._jitters_ms else None,  # noqa: SLF001
            audio_out_jitter_max_ms=round(q.jitter_max_ms),
            audio_out_jitter_avg_ms=round(q.jitter_ms),
            audio_out_lost=q.packets_lost,
        )

    async def _settle(self, sip_code: int | None, data: dict[str, Any] | None = None) -> None:
        """The call ended elsewhere (the API): add what only the runner knows."""
        with contextlib.suppress(InvalidTransition):
            changes: dict[str, Any] = {"quality": self._quality()}
            if sip_code is not None:
                changes["sip_result_code"] = sip_code
            await self._apply(CallSettled(data or {}), **changes)


__all__ = ["CallRunner", "Engine", "FetchedDocument"]
