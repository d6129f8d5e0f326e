"""The webhook outbox on SQL (`OutboxStore`)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import Connection, and_, bindparam, select, update

from callgate.store import codec
from callgate.store.base import Outgoing, RequestRecord
from callgate.store.sql_core import SqlCore
from callgate.store.sql_events import request_row, request_values
from callgate.store.tables import webhooks

# The engine's hot statements, built once: a statement object keeps its cache key, so executing it
# again costs only the binding (building a statement anew for each call cost more than running it).
_w = webhooks.c
_DUE_WEBHOOKS = (
    select(webhooks)
    .where(
        and_(
            _w.state == "pending",
            _w.due_at <= bindparam("now"),
            (_w.lease_until.is_(None)) | (_w.lease_until < bindparam("now")),
        )
    )
    .order_by(_w.due_at, _w.seq)
    .limit(bindparam("limit"))
)
_LEASE_WEBHOOKS = (
    update(webhooks)
    .where(_w.seq.in_(bindparam("seqs", expanding=True)))
    .values(lease_until=bindparam("until"))
)
# PostgreSQL: webhooks another node's dispatcher is claiming are skipped, not waited for.
_DUE_WEBHOOKS_LOCKED = _DUE_WEBHOOKS.with_for_update(skip_locked=True)


class SqlOutbox(SqlCore):
    """The durable outbox of webhooks: `store.base.OutboxStore` on SQLAlchemy Core."""

    # the outbox

    async def add_webhooks(self, items: Sequence[Outgoing]) -> None:
        if not items:
            return
        rows = [webhook_row(webhook_values(item), self._bind_time) for item in items]
        await self._tx(lambda conn: conn.exec_driver_sql(self._insert_webhook_sql, rows))

    async def claim_webhooks(self, now: datetime, lease_until: datetime, limit: int) -> list[Outgoing]:
        """Pending webhooks that are due and not held by another dispatcher, now held until
        `lease_until` (PostgreSQL: SKIP LOCKED, so dispatchers on several nodes share the outbox)."""
        due = {"now": codec.naive(now), "limit": limit}
        until = codec.naive(lease_until)

        pending = _DUE_WEBHOOKS_LOCKED if self._locking else _DUE_WEBHOOKS

        def claim(conn: Connection) -> list[Outgoing]:
            rows = list(conn.execute(pending, due).mappings())
            if not rows:
                return []
            conn.execute(_LEASE_WEBHOOKS, {"seqs": [r["seq"] for r in rows], "until": until})
            return [_webhook_from_row(r) for r in rows]

        return await self._tx(claim)

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
    ) -> None:
        """Record a delivery's outcome, and its attempts in the request log, in one transaction. The
        first delivery's start is kept once written (`first_attempt_at`: the retry horizon's origin)."""
        logged = [request_row(request_values(r), self._bind_time) for r in log]
        first = self._bind_time(first_attempt_at)
        outcome = (state, attempts, self._bind_time(due_at), last_status, first, str(item_id))

        def settle(conn: Connection) -> None:
            if logged:
                conn.exec_driver_sql(self._insert_request_sql, logged)
            conn.exec_driver_sql(self._settle_webhook_sql, outcome)

        await self._tx(settle)

    async def renew_webhooks(self, item_ids: Sequence[UUID], lease_until: datetime) -> None:
        """Hold the callbacks being delivered a while longer (the dispatcher's heartbeat)."""
        if not item_ids:
            return
        query = (
            update(webhooks)
            .where(and_(webhooks.c.id.in_([str(i) for i in item_ids]), webhooks.c.state == "pending"))
            .values(lease_until=codec.naive(lease_until))
        )
        await self._tx(lambda conn: conn.execute(query))

    async def webhooks_of(self, call_id: UUID) -> list[Outgoing]:
        query = select(webhooks).where(webhooks.c.call_id == str(call_id)).order_by(webhooks.c.seq)
        async with self.engine.connect() as conn:
            return [_webhook_from_row(r) for r in (await conn.execute(query)).mappings()]


def webhook_values(item: Outgoing) -> dict[str, Any]:
    return {
        "id": str(item.id),
        "account_id": str(item.account_id),
        "call_id": None if item.call_id is None else str(item.call_id),
        "kind": item.kind,
        "dialect": item.dialect,
        "url": item.url,
        "method": item.method,
        "params": [list(pair) for pair in item.params],
        "created_at": codec.naive(item.created_at),
        "due_at": codec.naive(item.due_at),
        "attempts": item.attempts,
        "state": item.state,
        "lease_until": codec.naive(item.lease_until),
        "last_status": item.last_status,
        "first_attempt_at": codec.naive(item.first_attempt_at),
    }


webhook_row = codec.row_writer(webhooks)


def _webhook_from_row(r: Any) -> Outgoing:
    return Outgoing(
        id=UUID(r["id"]),
        account_id=UUID(r["account_id"]),
        call_id=UUID(r["call_id"]) if r["call_id"] else None,
        kind=r["kind"],
        dialect=r["dialect"],
        url=r["url"],
        method=r["method"],
        params=tuple((str(k), str(v)) for k, v in r["params"]),
        created_at=codec.aware(r["created_at"]),  # type: ignore[arg-type]
        due_at=codec.aware(r["due_at"]),  # type: ignore[arg-type]
        attempts=r["attempts"],
        state=r["state"],
        last_status=r["last_status"],
        first_attempt_at=codec.aware(r["first_attempt_at"]),
    )


__all__ = ["SqlOutbox"]
