"""The SQL store: SQLAlchemy Core on an async engine, SQLite (aiosqlite) or PostgreSQL (asyncpg).

Every change to a call is a compare-and-set on its version, written together with its timeline
event in one transaction, so two writers (an API node and a worker) never overwrite each other:
the loser reads again and retries. New calls are group-committed (`callgate.store.batch`); on SQLite
through a writer thread of their own (`callgate.store.sqlite_writer`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any, TypeVar
from uuid import UUID

import sqlalchemy.exc
from sqlalchemy import Table, and_, delete, event, insert, select, update
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from callgate.core.call import Account, Application, Call, CallFilter
from callgate.core.events import CallEvent
from callgate.core.status import CallStatus
from callgate.store import codec
from callgate.store.base import Page, TimelineEntry
from callgate.store.batch import InsertBatcher
from callgate.store.sqlite_writer import SqliteWriter, sqlite_pragmas
from callgate.store.sqlite_writer import is_row_error as sqlite_row_error
from callgate.store.tables import accounts, applications, call_events, calls

R = TypeVar("R")


def async_url(url: str) -> str:
    """Map a plain database URL to its asyncio driver: sqlite -> aiosqlite, postgresql -> asyncpg."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return str(parsed.set(drivername="sqlite+aiosqlite"))
    if backend in {"postgresql", "postgres"}:
        return parsed.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)
    raise ValueError(
        f"unsupported database URL {parsed.render_as_string()!r}: use sqlite:/// or postgresql://"
    )


def _row_error(exc: BaseException) -> bool:
    return sqlite_row_error(exc) or isinstance(exc, sqlalchemy.exc.IntegrityError | sqlalchemy.exc.DataError)


def _paged(query: Any, table: Table, page: Page) -> Any:
    seq = table.c.seq
    if page.before is not None:
        # The previous page: the oldest `size` rows newer than the marker, flipped back by `_rows`.
        marker = select(seq).where(table.c.id == str(page.before)).scalar_subquery()
        return query.where(seq > marker).order_by(seq.asc()).limit(page.size)
    query = query.order_by(seq.desc()).limit(page.size)
    if page.after is not None:
        marker = select(seq).where(table.c.id == str(page.after)).scalar_subquery()
        return query.where(seq < marker)
    return query.offset(page.offset)


def _rows(rows: list[R], page: Page) -> list[R]:
    return rows[::-1] if page.before is not None else rows


class SqlStore:
    """The `Store` on SQLAlchemy Core. `open()` runs the Alembic migrations to head."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = url
        self.engine: AsyncEngine = create_async_engine(async_url(url), echo=echo)
        self.is_sqlite = self.engine.dialect.name == "sqlite"
        database = self.engine.url.database
        in_memory = self.is_sqlite and database in {None, "", ":memory:"}
        if self.is_sqlite:
            event.listen(self.engine.sync_engine, "connect", sqlite_pragmas)
        # A file gets its own writer thread; an in-memory database exists only on the engine's
        # one connection, so its inserts go through the engine too.
        self._sqlite_writer = (
            SqliteWriter(database) if self.is_sqlite and not in_memory and database else None
        )
        self._inserts = InsertBatcher(
            self._sqlite_writer.write_call_batch if self._sqlite_writer else self._write_call_batch,
            is_row_error=_row_error,
        )
        paramstyle = self.engine.dialect.paramstyle
        self._insert_call_sql = codec.insert_sql(paramstyle, calls)
        self._insert_event_sql = codec.insert_sql(paramstyle, call_events)
        # How a time is bound outside SQLAlchemy's type processing: SQLite keeps SQLAlchemy's
        # DATETIME text form, asyncpg takes naive UTC datetimes.
        self._bind_time: Any = codec.sqlite_time if self.is_sqlite else codec.naive

    async def open(self) -> None:
        from callgate.store.migrate import upgrade

        async with self.engine.begin() as conn:
            await conn.run_sync(upgrade)

    async def close(self) -> None:
        await self._inserts.close()
        if self._sqlite_writer is not None:
            await self._sqlite_writer.close()
        await self.engine.dispose()

    # accounts

    async def create_account(self, account: Account) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(insert(accounts).values(**codec.account_values(account)))

    async def list_accounts(self) -> list[Account]:
        async with self.engine.connect() as conn:
            rows = (await conn.execute(select(accounts).order_by(accounts.c.created_at))).mappings()
            return [codec.account_from_row(r) for r in rows]

    async def get_account(self, account_id: UUID) -> Account | None:
        query = select(accounts).where(accounts.c.id == str(account_id))
        async with self.engine.connect() as conn:
            row = (await conn.execute(query)).mappings().first()
            return None if row is None else codec.account_from_row(row)

    # calls

    async def insert_call(self, call: Call, event: CallEvent, now: datetime) -> Call:
        """Store a new call with its first event (group-committed with concurrent inserts).

        The returned call has no `seq` yet; reading it back gives it one.
        """
        await self._inserts.submit(codec.call_rows(call, event, now, self._bind_time))
        return call

    async def _write_call_batch(self, batch: Sequence[tuple[tuple[Any, ...], tuple[Any, ...]]]) -> None:
        # Plain executemany with SQL built once: the request path's one write, kept lean.
        async with self.engine.begin() as conn:
            await conn.exec_driver_sql(self._insert_call_sql, [call_row for call_row, _ in batch])
            await conn.exec_driver_sql(self._insert_event_sql, [event_row for _, event_row in batch])

    async def get_call(self, account_id: UUID, call_id: UUID) -> Call | None:
        query = select(calls).where(and_(calls.c.id == str(call_id), calls.c.account_id == str(account_id)))
        async with self.engine.connect() as conn:
            row = (await conn.execute(query)).mappings().first()
            return None if row is None else codec.call_from_row(row)

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
        query = _paged(select(calls).where(and_(*conditions)), calls, page)
        async with self.engine.connect() as conn:
            return _rows([codec.call_from_row(r) for r in (await conn.execute(query)).mappings()], page)

    async def update_call(
        self, call: Call, changes: dict[str, Any], event: CallEvent, now: datetime
    ) -> Call | None:
        """Apply `changes` if the call is still at the version `call` was read at, with `event` on
        its timeline. None if another writer changed it first: read it again and retry."""
        values = codec.call_values({**changes, "updated_at": now})
        async with self.engine.begin() as conn:
            result = await conn.execute(
                update(calls)
                .where(and_(calls.c.id == str(call.id), calls.c.version == call.version))
                .values(**values, version=calls.c.version + 1)
            )
            if result.rowcount != 1:
                return None
            row = (await conn.execute(select(calls).where(calls.c.id == str(call.id)))).mappings().one()
            moved = codec.call_from_row(row)
            await conn.execute(
                insert(call_events).values(
                    call_id=str(call.id),
                    at=codec.naive(now),
                    name=event.name,
                    status=moved.status.value,
                    data=event.data,
                )
            )
            return moved

    async def delete_call(self, account_id: UUID, call_id: UUID) -> bool:
        async with self.engine.begin() as conn:
            result = await conn.execute(
                delete(calls).where(and_(calls.c.id == str(call_id), calls.c.account_id == str(account_id)))
            )
            if result.rowcount:
                await conn.execute(delete(call_events).where(call_events.c.call_id == str(call_id)))
            return bool(result.rowcount)

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

    # applications

    async def insert_application(self, app: Application) -> Application:
        async with self.engine.begin() as conn:
            await conn.execute(
                insert(applications).values(
                    id=str(app.id),
                    account_id=str(app.account_id),
                    friendly_name=app.friendly_name,
                    created_at=codec.naive(app.created_at),
                    updated_at=codec.naive(app.updated_at),
                    config=codec.application_config(app),
                    version=app.version,
                )
            )
        return app

    async def get_application(self, account_id: UUID, app_id: UUID) -> Application | None:
        query = select(applications).where(
            and_(applications.c.id == str(app_id), applications.c.account_id == str(account_id))
        )
        async with self.engine.connect() as conn:
            row = (await conn.execute(query)).mappings().first()
            return None if row is None else codec.application_from_row(row)

    async def list_applications(
        self, account_id: UUID, friendly_name: str | None, page: Page
    ) -> list[Application]:
        conditions = [applications.c.account_id == str(account_id)]
        if friendly_name is not None:
            conditions.append(applications.c.friendly_name == friendly_name)
        query = _paged(select(applications).where(and_(*conditions)), applications, page)
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).mappings()
            return _rows([codec.application_from_row(r) for r in rows], page)

    async def update_application(self, app: Application) -> Application | None:
        """Write `app` if it is still at the version it was read at; None if it changed or went."""
        async with self.engine.begin() as conn:
            result = await conn.execute(
                update(applications)
                .where(
                    and_(
                        applications.c.id == str(app.id),
                        applications.c.account_id == str(app.account_id),
                        applications.c.version == app.version,
                    )
                )
                .values(
                    friendly_name=app.friendly_name,
                    updated_at=codec.naive(app.updated_at),
                    config=codec.application_config(app),
                    version=applications.c.version + 1,
                )
            )
            if result.rowcount != 1:
                return None
        return replace(app, version=app.version + 1)

    async def delete_application(self, account_id: UUID, app_id: UUID) -> bool:
        async with self.engine.begin() as conn:
            result = await conn.execute(
                delete(applications).where(
                    and_(applications.c.id == str(app_id), applications.c.account_id == str(account_id))
                )
            )
            return bool(result.rowcount)


__all__ = ["SqlStore", "async_url"]
