"""What every call's runner shares: the store, the services, SIP, speech, audio, HTTP (`Engine`),
and the requests made on a call's behalf (its documents, its debugger notices, its recordings' and
status callbacks). The composition root (`callgate.app`) builds one `Engine` per process.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Protocol
from uuid import UUID

from callgate.core.call import Account, Call
from callgate.core.events import CallEvent
from callgate.core.notices import Notice, NoticeKind
from callgate.engine.accounts import AccountDirectory
from callgate.engine.callbacks import outgoing
from callgate.engine.calls import CallService
from callgate.engine.clock import new_id, utcnow
from callgate.engine.faces import Face, Params, RecordingRef
from callgate.engine.recordings import RecordingService
from callgate.store.base import NotificationRecord, Recording, Store
from callgate.telephony.aio.clock import MediaClock
from callgate.telephony.aio.dialer import Dialer
from callgate.telephony.aio.fetch import AudioFetcher
from callgate.telephony.aio.tts import Speaker
from callgate.webhooks.client import Attempt, WebhookClient, WebhookRequest
from callgate.webhooks.outbox import request_record

log = logging.getLogger("callgate.engine")


class RunningCall(Protocol):
    """A call running in this process, as the worker sees it (`runner.CallRunner`)."""

    call: Call

    def changed(self, call: Call, event: CallEvent) -> None:
        """The call was changed elsewhere (the API)."""
        ...

    def shutdown(self) -> None:
        """The worker is stopping: end the call the normal way."""
        ...


@dataclass(frozen=True, slots=True)
class FetchedDocument:
    url: str
    status: int | None
    content_type: str | None
    body: bytes
    #: why the document could not be fetched (None: it was)
    failure: Notice | None

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
    #: the clock that ticks every stream of these calls (one per process, made by the composition
    #: root; None: telephony's default)
    media_clock: MediaClock | None = None
    clock: Callable[[], datetime] = utcnow
    ids: Callable[[], UUID] = new_id
    running: dict[UUID, RunningCall] = field(default_factory=dict)
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

    def face_for(self, call: Call) -> Face:
        """The face `call` was made through (the first face for a dialect this process lacks)."""
        return self.faces.get(call.options.dialect) or next(iter(self.faces.values()))

    async def notify(self, call: Call, notice: Notice) -> None:
        """Store `notice` in the call's debugger, in the terms of the call's dialect."""
        note = self.face_for(call).notification(notice)
        log.log(logging.WARNING if note.level == "warning" else logging.ERROR, "call %s: %s %s", call.id,
                note.code, note.message)  # fmt: skip
        await self.store.add_notification(
            NotificationRecord(
                id=self.ids(),
                account_id=call.account_id,
                call_id=call.id,
                created_at=self.clock(),
                level=note.level,
                code=note.code,
                message=note.message,
                request_url=notice.url,
                request_method=notice.method,
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
        failure = None
        if not delivery.ok:
            detail = final.error or f"HTTP {final.status} from {url}"
            failure = Notice(NoticeKind.FETCH_FAILED, detail, url=url, method=method, cause=final.error_code)
            await self.notify(call, failure)
        return FetchedDocument(
            url=final.url.split("#", 1)[0],
            status=final.status,
            content_type=delivery.content_type,
            body=delivery.body,
            failure=failure,
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


__all__ = ["Engine", "FetchedDocument", "RunningCall"]
