"""The store protocols every back-end implements (one per aggregate, `Store` their union), and the
records they return besides the core ones."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol
from uuid import UUID

from callgate.core.call import Account, Application, Call, CallFilter
from callgate.core.events import CallEvent
from callgate.core.status import CallStatus


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    """One stored event of a call's timeline."""

    seq: int
    call_id: UUID
    at: datetime
    name: str
    status: CallStatus
    data: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Page:
    """Which rows a list page holds, newest first.

    Keyset paging: `after` takes the rows just older than the row with that id (next page),
    `before` the rows just newer (previous page). Without either, the page starts at `offset`.
    """

    size: int
    offset: int = 0
    after: UUID | None = None
    before: UUID | None = None


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One webhook in the durable outbox (a status or recording callback), and its delivery state."""

    id: UUID
    account_id: UUID
    call_id: UUID | None
    kind: str  # "status", "recording", "amd", ...
    dialect: str  # the face that shapes and signs it
    url: str
    method: str
    params: tuple[tuple[str, str], ...]
    created_at: datetime
    due_at: datetime
    attempts: int = 0
    state: str = "pending"  # pending, delivered, failed
    last_status: int | None = None
    #: written already held until then by the dispatcher of the process that wrote it (see
    #: CallService.outbox): the others leave it alone unless that process dies
    lease_until: datetime | None = None
    #: when its first delivery started (None until then): the retry horizon counts from it
    first_attempt_at: datetime | None = None


#: Builds the callbacks an event causes, from the call as it is after the event and the number of
#: status callbacks the call has already queued (Twilio's SequenceNumber). Run inside the transaction.
CallbacksFor = Callable[[Call, int], Sequence[Outgoing]]


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """One HTTP request Callgate made for a call, and what came back (the call's Events resource)."""

    account_id: UUID
    call_id: UUID | None
    kind: str  # "voice", "fallback", "action", "status", ...
    at: datetime
    request: dict[str, Any]  # url, method, headers, params
    response: dict[str, Any]  # status, headers, body (first KB)
    elapsed_ms: int | None = None
    error_code: int | None = None
    seq: int | None = None


@dataclass(frozen=True, slots=True)
class NotificationRecord:
    """An error or warning about a call, as Twilio's debugger reports it."""

    id: UUID
    account_id: UUID
    call_id: UUID | None
    created_at: datetime
    level: str  # "error" or "warning"
    code: int
    message: str
    request_url: str | None = None
    request_method: str | None = None
    detail: dict[str, Any] | None = None
    seq: int | None = None


@dataclass(frozen=True, slots=True)
class Run:
    """A worker's claim on a call. `alive_at` is when its worker was last known alive (the claim, then
    each heartbeat): a call whose worker was lost ended then."""

    call_id: UUID
    owner: str
    claimed_at: datetime
    lease_until: datetime
    alive_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Recording:
    """One recording of a call's audio, and where its WAV file lives.

    `source` says what made it (OutboundAPI, RecordVerb, DialVerb, StartCallRecordingAPI), `status`
    where it stands (in-progress, paused, stopped, completed, absent, failed); `duration_s` is known
    once it is done. A recording started through the API keeps what its request asked for: its
    RecordingStatusCallback (`status_callback*`), `trim`, and how a pause records (`pause_behavior`:
    silence or skip).
    """

    id: UUID
    account_id: UUID
    call_id: UUID | None
    created_at: datetime
    updated_at: datetime
    source: str
    status: str
    channels: int = 1
    track: str = "both"  # inbound, outbound or both
    start_time: datetime | None = None
    duration_s: int | None = None
    path: str | None = None
    error_code: int | None = None
    conference_id: UUID | None = None
    price: str | None = None
    price_unit: str = "USD"
    api_version: str = "2010-04-01"
    status_callback: str | None = None
    status_callback_method: str = "POST"
    status_callback_events: tuple[str, ...] = ("completed",)
    trim: bool = False
    pause_behavior: str = "silence"
    seq: int | None = None


@dataclass(frozen=True, slots=True)
class RecordingFilter:
    """Recording list filters: inclusive bounds on the creation time."""

    created_after: datetime | None = None
    created_before: datetime | None = None


class AccountStore(Protocol):
    """Accounts and their applications (each application's write a compare-and-set on its version)."""

    async def create_account(self, account: Account) -> None: ...
    async def list_accounts(self) -> list[Account]: ...
    async def get_account(self, account_id: UUID) -> Account | None: ...

    async def insert_application(self, app: Application) -> Application: ...
    async def get_application(self, account_id: UUID, app_id: UUID) -> Application | None: ...
    async def list_applications(
        self, account_id: UUID, friendly_name: str | None, page: Page
    ) -> list[Application]: ...
    async def update_application(self, app: Application) -> Application | None: ...
    async def delete_application(self, account_id: UUID, app_id: UUID) -> bool: ...


class CallStore(Protocol):
    """Calls, their timelines, and the leases by which workers run them. Every call update is a
    compare-and-set on the version the caller read: None back means another writer got there first."""

    async def insert_call(self, call: Call, event: CallEvent, now: datetime) -> Call: ...
    async def get_call(self, account_id: UUID, call_id: UUID) -> Call | None: ...
    async def list_calls(self, account_id: UUID, flt: CallFilter, page: Page) -> list[Call]: ...
    async def update_call(
        self,
        call: Call,
        changes: dict[str, Any],
        event: CallEvent,
        now: datetime,
        callbacks: CallbacksFor | None = None,
    ) -> Call | None: ...
    async def delete_call(self, account_id: UUID, call_id: UUID) -> bool: ...
    async def timeline(self, call_id: UUID) -> list[TimelineEntry]: ...

    # the engine: leases on calls
    async def call_by_id(self, call_id: UUID) -> Call | None: ...
    async def call_versions(self, call_ids: Sequence[UUID]) -> dict[UUID, int]: ...
    async def queued_calls(self, limit: int, skip_accounts: Sequence[UUID] = ()) -> list[Call]: ...
    async def claim_call(self, call_id: UUID, owner: str, now: datetime, lease_until: datetime) -> bool: ...
    async def renew_runs(
        self, owner: str, lease_until: datetime, alive_at: datetime | None = None
    ) -> None: ...
    async def end_run(self, call_id: UUID) -> None: ...
    async def expired_runs(self, now: datetime, limit: int) -> list[Run]: ...
    async def take_over_run(self, run: Run, owner: str, lease_until: datetime) -> bool: ...


class OutboxStore(Protocol):
    """The durable outbox of webhooks: added, claimed under a lease, settled with their attempts."""

    async def add_webhooks(self, items: Sequence[Outgoing]) -> None: ...
    async def claim_webhooks(self, now: datetime, lease_until: datetime, limit: int) -> list[Outgoing]: ...
    async def settle_webhook(
        self,
        item_id: UUID,
        *,
        state: str,
        attempts: int,
        due_at: datetime,
        last_status: int | None,
        log: Sequence[RequestRecord] = (),
        first_attempt_at: datetime | None = None,
    ) -> None: ...
    async def renew_webhooks(self, item_ids: Sequence[UUID], lease_until: datetime) -> None: ...
    async def webhooks_of(self, call_id: UUID) -> list[Outgoing]: ...


class EventStore(Protocol):
    """What happened: the requests made (a call's Events) and the notifications, paged and filtered."""

    async def log_request(self, record: RequestRecord) -> None: ...
    async def requests_of(self, call_id: UUID) -> list[RequestRecord]: ...
    async def add_notification(self, record: NotificationRecord) -> None: ...

    async def list_requests(self, account_id: UUID, call_id: UUID, page: Page) -> list[RequestRecord]:
        """A call's request records oldest first; page markers name a record as `UUID(int=seq)`."""
        ...

    async def get_notification(
        self, account_id: UUID, notification_id: UUID
    ) -> NotificationRecord | None: ...
    async def search_notifications(
        self,
        account_id: UUID,
        call_id: UUID | None,
        page: Page,
        *,
        level: str | None = None,
        created_after: datetime | None = None,
        created_before: datetime | None = None,
    ) -> list[NotificationRecord]: ...


class RecordingStore(Protocol):
    """Recording rows, scoped to their account."""

    async def insert_recording(self, recording: Recording) -> Recording: ...
    async def update_recording(self, recording: Recording) -> Recording | None: ...
    async def get_recording(self, account_id: UUID, recording_id: UUID) -> Recording | None: ...
    async def list_recordings(
        self, account_id: UUID, call_id: UUID | None, flt: RecordingFilter, page: Page
    ) -> list[Recording]: ...
    async def delete_recording(self, account_id: UUID, recording_id: UUID) -> bool: ...
    async def control_recording(
        self, account_id: UUID, recording_id: UUID, status: str, pause_behavior: str | None, at: datetime
    ) -> Recording | None:
        """Move a recording that is still going (in-progress or paused) to `status` (and, when given,
        its `pause_behavior`); None if there is no such recording or it is no longer going."""
        ...


#: the aggregates, each with its own Protocol (and SQL implementation, store/sql_*.py)
AGGREGATES: tuple[type, ...] = (AccountStore, CallStore, OutboxStore, EventStore, RecordingStore)


class Store(AccountStore, CallStore, OutboxStore, EventStore, RecordingStore, Protocol):
    """What the engine needs from persistence: every aggregate's store over one database, which it
    opens and closes. A part that needs one aggregate takes that aggregate's Protocol."""

    async def open(self) -> None: ...
    async def close(self) -> None: ...
