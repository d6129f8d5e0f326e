"""The store protocol every back-end implements, and the records it returns besides the core ones."""

from __future__ import annotations

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


class Store(Protocol):
    """What the engine needs from persistence. Every call update is a compare-and-set on the
    version the caller read: None back means another writer got there first."""

    async def open(self) -> None: ...
    async def close(self) -> None: ...

    async def create_account(self, account: Account) -> None: ...
    async def list_accounts(self) -> list[Account]: ...
    async def get_account(self, account_id: UUID) -> Account | None: ...

    async def insert_call(self, call: Call, event: CallEvent, now: datetime) -> Call: ...
    async def get_call(self, account_id: UUID, call_id: UUID) -> Call | None: ...
    async def list_calls(self, account_id: UUID, flt: CallFilter, page: Page) -> list[Call]: ...
    async def update_call(
        self,
        call: Call,
        changes: dict[str, Any],
        event: CallEvent,
        now: datetime,
    ) -> Call | None: ...
    async def delete_call(self, account_id: UUID, call_id: UUID) -> bool: ...
    async def timeline(self, call_id: UUID) -> list[TimelineEntry]: ...

    async def insert_application(self, app: Application) -> Application: ...
    async def get_application(self, account_id: UUID, app_id: UUID) -> Application | None: ...
    async def list_applications(
        self, account_id: UUID, friendly_name: str | None, page: Page
    ) -> list[Application]: ...
    async def update_application(self, app: Application) -> Application | None: ...
    async def delete_application(self, account_id: UUID, app_id: UUID) -> bool: ...
