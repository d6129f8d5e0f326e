"""The request log and the notifications on SQL (`EventStore`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import and_, insert, select

from callgate.store import codec
from callgate.store.base import NotificationRecord, Page, RequestRecord
from callgate.store.sql_core import SqlCore, page_order, paged
from callgate.store.tables import notifications, requests_log


class SqlEvents(SqlCore):
    """What happened: the request log (a call's Events) and the notifications: `store.base.EventStore`."""

    async def log_request(self, record: RequestRecord) -> None:
        row = request_row(request_values(record), self._bind_time)
        await self._tx(lambda conn: conn.exec_driver_sql(self._insert_request_sql, row))

    async def requests_of(self, call_id: UUID) -> list[RequestRecord]:
        log = requests_log.c
        query = select(requests_log).where(log.call_id == str(call_id)).order_by(log.seq)
        async with self.engine.connect() as conn:
            return [_request_from_row(r) for r in (await conn.execute(query)).mappings()]

    async def add_notification(self, record: NotificationRecord) -> None:
        query = insert(notifications).values(
            id=str(record.id),
            account_id=str(record.account_id),
            call_id=None if record.call_id is None else str(record.call_id),
            created_at=codec.naive(record.created_at),
            level=record.level,
            code=record.code,
            message=record.message,
            request_url=record.request_url,
            request_method=record.request_method,
            detail=record.detail or {},
        )
        await self._tx(lambda conn: conn.execute(query))

    # request log: the call's Events and the Notifications resources, paged and filtered

    async def list_requests(self, account_id: UUID, call_id: UUID, page: Page) -> list[RequestRecord]:
        """A call's request records in the order they were made (oldest first), one page of them.

        A request record has no id of its own: the markers of `page` name a row as `UUID(int=seq)`,
        `after` taking the records made after it, `before` those made just before it.
        """
        log = requests_log.c
        query = select(requests_log).where(
            and_(log.account_id == str(account_id), log.call_id == str(call_id))
        )
        if page.before is not None:
            query = query.where(log.seq < self._seq_of(page.before)).order_by(log.seq.desc()).limit(page.size)
        else:
            query = query.order_by(log.seq.asc()).limit(page.size)
            if page.after is not None:
                query = query.where(log.seq > self._seq_of(page.after))
            else:
                query = query.offset(page.offset)
        async with self.engine.connect() as conn:
            records = [_request_from_row(r) for r in (await conn.execute(query)).mappings()]
        return records[::-1] if page.before is not None else records

    async def get_notification(self, account_id: UUID, notification_id: UUID) -> NotificationRecord | None:
        note = notifications.c
        where = and_(note.id == str(notification_id), note.account_id == str(account_id))
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(notifications).where(where))).mappings().first()
            return None if row is None else _notification_from_row(row)

    async def search_notifications(
        self,
        account_id: UUID,
        call_id: UUID | None,
        page: Page,
        *,
        level: str | None = None,
        created_after: datetime | None = None,
        created_before: datetime | None = None,
    ) -> list[NotificationRecord]:
        """Notifications newest first, of one level and within inclusive creation bounds if given."""
        note = notifications.c
        conditions = [note.account_id == str(account_id)]
        if call_id is not None:
            conditions.append(note.call_id == str(call_id))
        if level is not None:
            conditions.append(note.level == level)
        if created_after is not None:
            conditions.append(note.created_at >= codec.naive(created_after))
        if created_before is not None:
            conditions.append(note.created_at <= codec.naive(created_before))
        query = paged(select(notifications).where(and_(*conditions)), notifications, page)
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).mappings()
            return page_order([_notification_from_row(r) for r in rows], page)

    @staticmethod
    def _seq_of(marker: UUID) -> int:
        """The seq a request-log page marker names, kept within BIGINT (a foreign token matches nothing)."""
        return min(marker.int, 2**63 - 1)


def request_values(record: RequestRecord) -> dict[str, Any]:
    return {
        "account_id": str(record.account_id),
        "call_id": None if record.call_id is None else str(record.call_id),
        "kind": record.kind,
        "at": codec.naive(record.at),
        "request": record.request,
        "response": record.response,
        "elapsed_ms": record.elapsed_ms,
        "error_code": record.error_code,
    }


def _request_from_row(r: Any) -> RequestRecord:
    return RequestRecord(
        account_id=UUID(r["account_id"]),
        call_id=UUID(r["call_id"]) if r["call_id"] else None,
        kind=r["kind"],
        at=codec.aware(r["at"]),  # type: ignore[arg-type]
        request=r["request"],
        response=r["response"],
        elapsed_ms=r["elapsed_ms"],
        error_code=r["error_code"],
        seq=r["seq"],
    )


def _notification_from_row(r: Any) -> NotificationRecord:
    return NotificationRecord(
        id=UUID(r["id"]),
        account_id=UUID(r["account_id"]),
        call_id=UUID(r["call_id"]) if r["call_id"] else None,
        created_at=codec.aware(r["created_at"]),  # type: ignore[arg-type]
        level=r["level"],
        code=r["code"],
        message=r["message"],
        request_url=r["request_url"],
        request_method=r["request_method"],
        detail=r["detail"],
        seq=r["seq"],
    )


request_row = codec.row_writer(requests_log)


__all__ = ["SqlEvents"]
