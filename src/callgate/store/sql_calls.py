"""Calls on SQL (`CallStore`): each change a compare-and-set on the version, with its timeline event and
the webhooks it causes in one transaction; the leases by which workers run them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any
from uuid import UUID

import sqlalchemy.exc
from sqlalchemy import Connection, and_, bindparam, delete, exists, insert, select, update

from callgate.core.call import Call, CallFilter
from callgate.core.events import CallEvent
from callgate.core.status import CallStatus
from callgate.store import codec
from callgate.store.base import CallbacksFor, Page, Run, TimelineEntry
from callgate.store.sql_core import SqlCore, as_utc, page_order, paged
from callgate.store.sql_outbox import webhook_row, webhook_values
from callgate.store.tables import call_events, call_runs, calls

_CALL_STATUS = select(calls.c.status).where(calls.c.id == bindparam("call_id"))
_RUN_OWNER = select(call_runs.c.owner).where(call_runs.c.call_id == bindparam("call_id"))
_NEW_RUN = insert(call_runs)
_END_RUN = delete(call_runs).where(call_runs.c.call_id == bindparam("call_id"))
_CALL_BY_ID = select(calls).where(calls.c.id == bindparam("call_id"))
_CALL_VERSIONS = select(calls.c.id, calls.c.version).where(calls.c.id.in_(bindparam("ids", expanding=True)))
# PostgreSQL: a call another node's worker is claiming is skipped, not waited for.
_CALL_STATUS_LOCKED = _CALL_STATUS.with_for_update(skip_locked=True)


class SqlCalls(SqlCore):
    """Calls, their timelines and the workers' leases on them: `store.base.CallStore` on SQLAlchemy Core."""

    # calls

    async def insert_call(self, call: Call, event: CallEvent, now: datetime) -> Call:
        """Store a new call with its first event (group-committed with concurrent inserts).

        The returned call has no `seq` yet; reading it back gives it one.
        """
        await self._inserts.submit(codec.call_rows(call, event, now, self._bind_time))
        return call

    async def get_call(self, account_id: UUID, call_id: UUID) -> Call | None:
        query = select(calls).where(and_(calls.c.id == str(call_id), calls.c.account_id == str(account_id)))

        def read(conn: Connection) -> Call | None:
            row = conn.execute(query).mappings().first()
            return None if row is None else codec.call_from_row(row)

        return await self._read(read)

    async def list_calls(self, account_id: UUID, flt: CallFilter, page: Page) -> list[Call]:
        c = calls.c
        conditions = [c.account_id == str(account_id)]
        if flt.to is not None:
            conditions.append(c.to_addr == flt.to)
        if flt.from_ is not None:
            conditions.append(c.from_addr == flt.from_)
        if flt.parent_call_id is not None:
            conditions.append(c.parent_call_id == str(flt.parent_call_id))
        if flt.status is not None:
            conditions.append(c.status == flt.status.value)
        if flt.start_after is not None:
            conditions.append(c.start_time >= codec.naive(flt.start_after))
        if flt.start_before is not None:
            conditions.append(c.start_time <= codec.naive(flt.start_before))
        if flt.end_after is not None:
            conditions.append(c.end_time >= codec.naive(flt.end_after))
        if flt.end_before is not None:
            conditions.append(c.end_time <= codec.naive(flt.end_before))
        query = paged(select(calls).where(and_(*conditions)), calls, page)
        async with self.engine.connect() as conn:
            return page_order([codec.call_from_row(r) for r in (await conn.execute(query)).mappings()], page)

    async def update_call(
        self,
        call: Call,
        changes: dict[str, Any],
        event: CallEvent,
        now: datetime,
        callbacks: CallbacksFor | None = None,
    ) -> Call | None:
        """Apply `changes` if the call is still at the version `call` was read at, with `event` on
        its timeline and the webhooks `callbacks` makes of it in the outbox, all in one transaction.
        None if another writer changed it first: read it again and retry."""
        fields: dict[str, Any] = {k: as_utc(v) if isinstance(v, datetime) else v for k, v in changes.items()}
        moved = replace(call, **fields, updated_at=as_utc(now), version=call.version + 1)
        bind = self._bind_time
        row = codec.call_row(moved, bind)
        params = (*row[1:], row[0], call.version)
        event_row = (row[0], bind(now), event.name, moved.status.value, codec.json_text(event.data))

        def write(conn: Connection) -> Call | None:
            seq = conn.exec_driver_sql(self._update_call_sql, params).scalar()
            if seq is None:
                return None
            stored = moved if moved.seq == seq else replace(moved, seq=seq)  # a row's seq never changes
            conn.exec_driver_sql(self._insert_event_sql, event_row)
            if callbacks is not None:
                sent = 0
                if stored.options.status_callback:  # SequenceNumber counts the status callbacks so far
                    sent = conn.exec_driver_sql(self._count_status_sql, (row[0],)).scalar_one()
                items = callbacks(stored, int(sent))
                if items:
                    rows = [webhook_row(webhook_values(item), bind) for item in items]
                    conn.exec_driver_sql(self._insert_webhook_sql, rows)
            return stored

        return await self._tx(write)

    async def delete_call(self, account_id: UUID, call_id: UUID) -> bool:
        def remove(conn: Connection) -> bool:
            result = conn.execute(
                delete(calls).where(and_(calls.c.id == str(call_id), calls.c.account_id == str(account_id)))
            )
            if result.rowcount:
                conn.execute(delete(call_events).where(call_events.c.call_id == str(call_id)))
            return bool(result.rowcount)

        return await self._tx(remove)

    async def timeline(self, call_id: UUID) -> list[TimelineEntry]:
        query = select(call_events).where(call_events.c.call_id == str(call_id)).order_by(call_events.c.seq)
        async with self.engine.connect() as conn:
            return [
                TimelineEntry(
                    seq=r["seq"],
                    call_id=UUID(r["call_id"]),
                    at=codec.aware(r["at"]),  # type: ignore[arg-type]
                    name=r["name"],
                    status=CallStatus(r["status"]),
                    data=r["data"],
                )
                for r in (await conn.execute(query)).mappings()
            ]

    # the engine: leases on calls

    async def queued_calls(self, limit: int, skip_accounts: Sequence[UUID] = ()) -> list[Call]:
        """The oldest queued API calls nobody has claimed, leaving out `skip_accounts` (accounts at
        their rate: their backlog must not hide the calls of the others)."""
        claimed = exists().where(call_runs.c.call_id == calls.c.id)
        conditions = [
            calls.c.status == CallStatus.QUEUED.value,
            calls.c.direction == "outbound-api",  # a <Dial>'s calls are run by their parent
            ~claimed,
        ]
        if skip_accounts:
            conditions.append(calls.c.account_id.not_in([str(a) for a in skip_accounts]))
        query = select(calls).where(and_(*conditions)).order_by(calls.c.seq).limit(limit)
        return await self._read(lambda conn: [codec.call_from_row(r) for r in conn.execute(query).mappings()])

    async def claim_call(self, call_id: UUID, owner: str, now: datetime, lease_until: datetime) -> bool:
        """Claim a queued call for `owner`: the run row's primary key makes the claim exclusive.

        On PostgreSQL the call's row is locked with SKIP LOCKED first, so workers racing for the same
        call do not queue up behind each other: the losers skip it at once.
        """
        key = {"call_id": str(call_id)}
        claimed = codec.naive(now)
        run = {**key, "owner": owner, "claimed_at": claimed, "lease_until": codec.naive(lease_until),
               "alive_at": claimed}  # fmt: skip

        status = _CALL_STATUS_LOCKED if self._locking else _CALL_STATUS

        def claim(conn: Connection) -> bool:
            if conn.execute(status, key).scalar_one_or_none() != CallStatus.QUEUED.value:
                return False
            if conn.execute(_RUN_OWNER, key).first() is not None:
                return False
            conn.execute(_NEW_RUN, run)
            return True

        try:
            return await self._tx(claim)
        except sqlalchemy.exc.IntegrityError:
            return False

    async def renew_runs(self, owner: str, lease_until: datetime, alive_at: datetime | None = None) -> None:
        """The heartbeat of `owner`: its runs are held until `lease_until`; `alive_at`, when given, is
        the time it was known alive running them."""
        values: dict[str, Any] = {"lease_until": codec.naive(lease_until)}
        if alive_at is not None:
            values["alive_at"] = codec.naive(alive_at)
        query = update(call_runs).where(call_runs.c.owner == owner).values(**values)
        await self._tx(lambda conn: conn.execute(query))

    async def end_run(self, call_id: UUID) -> None:
        key = {"call_id": str(call_id)}
        await self._tx(lambda conn: conn.execute(_END_RUN, key))

    async def expired_runs(self, now: datetime, limit: int) -> list[Run]:
        query = (
            select(call_runs)
            .where(call_runs.c.lease_until < codec.naive(now))
            .order_by(call_runs.c.lease_until)
            .limit(limit)
        )
        return await self._read(lambda conn: [_run_from_row(r) for r in conn.execute(query).mappings()])

    async def take_over_run(self, run: Run, owner: str, lease_until: datetime) -> bool:
        """Move an expired run to `owner` if nobody else took it over first."""
        query = (
            update(call_runs)
            .where(
                and_(
                    call_runs.c.call_id == str(run.call_id),
                    call_runs.c.owner == run.owner,
                    call_runs.c.lease_until == codec.naive(run.lease_until),
                )
            )
            .values(owner=owner, lease_until=codec.naive(lease_until))
        )
        return await self._tx(lambda conn: bool(conn.execute(query).rowcount == 1))

    async def call_versions(self, call_ids: Sequence[UUID]) -> dict[UUID, int]:
        """The current version of each of these calls (a worker's cheap look for changes made elsewhere)."""
        if not call_ids:
            return {}
        ids = {"ids": [str(i) for i in call_ids]}
        return await self._read(
            lambda conn: {UUID(row.id): row.version for row in conn.execute(_CALL_VERSIONS, ids)}
        )

    async def call_by_id(self, call_id: UUID) -> Call | None:
        key = {"call_id": str(call_id)}

        def read(conn: Connection) -> Call | None:
            row = conn.execute(_CALL_BY_ID, key).mappings().first()
            return None if row is None else codec.call_from_row(row)

        return await self._read(read)


def _run_from_row(r: Any) -> Run:
    return Run(
        call_id=UUID(r["call_id"]),
        owner=r["owner"],
        claimed_at=codec.aware(r["claimed_at"]),  # type: ignore[arg-type]
        lease_until=codec.aware(r["lease_until"]),  # type: ignore[arg-type]
        alive_at=codec.aware(r["alive_at"]),
    )


__all__ = ["SqlCalls"]
