"""The SQL store's shared core: the async engine (SQLite through aiosqlite, PostgreSQL through
asyncpg), its write and read paths, the group-committed insert of new calls, and the hot statements
built once as driver SQL. Each aggregate's store (sql_calls.py, sql_accounts.py, sql_events.py,
sql_recordings.py, sql_outbox.py) is a `SqlCore` with its own methods; `sql.SqlStore` is all of them.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any, TypeVar

import orjson
import sqlalchemy.exc
from sqlalchemy import Connection, Table, event, select
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from callgate.store import codec
from callgate.store.base import Page
from callgate.store.batch import InsertBatcher
from callgate.store.pg_insert import PgInserter, insert_both_sql
from callgate.store.sqlite_writer import SqliteReader, SqliteWriter, sqlite_pragmas
from callgate.store.sqlite_writer import is_row_error as sqlite_row_error
from callgate.store.tables import call_events, calls, requests_log, webhooks

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


# Connect arguments SQLAlchemy's asyncpg dialect takes for itself, not asyncpg's.
_SQLALCHEMY_ONLY = ("async_creator_fn", "prepared_statement_cache_size", "prepared_statement_name_func")


def _row_error(exc: BaseException) -> bool:
    """An error the rows caused (a constraint, a value the column refuses), not the database."""
    if sqlite_row_error(exc) or isinstance(exc, sqlalchemy.exc.IntegrityError | sqlalchemy.exc.DataError):
        return True
    # asyncpg's own (the PostgreSQL inserter): SQLSTATE class 23 (integrity) or 22 (data)
    sqlstate = getattr(exc, "sqlstate", None)
    return isinstance(sqlstate, str) and sqlstate[:2] in {"22", "23"}


def paged(query: Any, table: Table, page: Page) -> Any:
    seq = table.c.seq
    if page.before is not None:
        # The previous page: the oldest `size` rows newer than the marker, flipped back by `page_order`.
        marker = select(seq).where(table.c.id == str(page.before)).scalar_subquery()
        return query.where(seq > marker).order_by(seq.asc()).limit(page.size)
    query = query.order_by(seq.desc()).limit(page.size)
    if page.after is not None:
        marker = select(seq).where(table.c.id == str(page.after)).scalar_subquery()
        return query.where(seq < marker)
    return query.offset(page.offset)


def page_order(rows: list[R], page: Page) -> list[R]:
    return rows[::-1] if page.before is not None else rows


class SqlCore:
    """A database connection for the SQL stores. `open()` runs the Alembic migrations to head."""

    def __init__(self, url: str, *, echo: bool = False, insert_process: bool = False) -> None:
        """`insert_process`: on a SQLite file, new calls are written by a child process
        (callgate.store.sqlite_process), on another core than the event loop's. For an API node,
        whose writes are nearly all new calls: beside the engine's writes in the same process, the
        two writers take turns through SQLite's busy handler, which bench/engine_e2e.py shows in the
        callbacks' p99 latency (docs/PERFORMANCE.md)."""
        self.url = url
        # JSON columns read with orjson (several per call event on the engine's hot path).
        self.engine: AsyncEngine = create_async_engine(
            async_url(url), echo=echo, json_deserializer=orjson.loads
        )
        self.is_sqlite = self.engine.dialect.name == "sqlite"
        database = self.engine.url.database
        in_memory = self.is_sqlite and database in {None, "", ":memory:"}
        if self.is_sqlite:
            event.listen(self.engine.sync_engine, "connect", sqlite_pragmas)
        # A file gets its own writer thread; an in-memory database exists only on the engine's
        # one connection, so its inserts go through the engine too.
        on_file = bool(self.is_sqlite and not in_memory and database)
        self._sqlite_writer = (
            SqliteWriter(database, insert_process=insert_process) if on_file and database else None
        )
        self._sqlite_reader = SqliteReader(database) if on_file and database else None
        paramstyle = self.engine.dialect.paramstyle
        self._insert_call_sql = codec.insert_sql(paramstyle, calls)
        self._insert_event_sql = codec.insert_sql(paramstyle, call_events)
        # PostgreSQL: new calls on asyncpg connections of their own, one round trip a batch.
        self._pg_inserter = None if self.is_sqlite else self._make_pg_inserter()
        if self._pg_inserter is not None:
            self._inserts = InsertBatcher(
                self._pg_inserter.write,
                is_row_error=_row_error,
                start_many=self._pg_inserter.start,
            )
        else:
            self._inserts = InsertBatcher(
                self._sqlite_writer.write_call_batch if self._sqlite_writer else self._write_call_batch,
                is_row_error=_row_error,
                start_many=self._sqlite_writer.start_call_batch
                if self._sqlite_writer and insert_process
                else None,
            )
        # The engine's hot statements, as plain driver SQL built once: SQLAlchemy's per-statement
        # construction and cache key cost more than the statements themselves.
        self._update_call_sql = codec.update_call_sql(paramstyle)
        self._insert_webhook_sql = codec.insert_sql(paramstyle, webhooks)
        self._insert_request_sql = codec.insert_sql(paramstyle, requests_log)
        mark = codec.placeholders(paramstyle, 1)[0]
        self._count_status_sql = f"SELECT count(*) FROM webhooks WHERE call_id = {mark} AND kind = 'status'"
        m = codec.placeholders(paramstyle, 6)
        self._settle_webhook_sql = (
            f"UPDATE webhooks SET state = {m[0]}, attempts = {m[1]}, due_at = {m[2]}, last_status = {m[3]}, "
            f"first_attempt_at = COALESCE(first_attempt_at, {m[4]}), lease_until = NULL WHERE id = {m[5]}"
        )
        # PostgreSQL: rows another node's worker or dispatcher holds are skipped, not waited for.
        self._locking = not self.is_sqlite
        # How a time is bound outside SQLAlchemy's type processing: SQLite keeps SQLAlchemy's
        # DATETIME text form, asyncpg takes naive UTC datetimes.
        self._bind_time: Any = codec.sqlite_time if self.is_sqlite else codec.naive
        self._write_lock: asyncio.Lock | None = asyncio.Lock() if self.is_sqlite else None

    def _make_pg_inserter(self) -> PgInserter:
        """The inserter for new calls, connecting as the engine connects (its URL's arguments)."""
        import asyncpg

        _, kwargs = self.engine.dialect.create_connect_args(self.engine.url)
        for sqlalchemy_only in _SQLALCHEMY_ONLY:
            kwargs.pop(sqlalchemy_only, None)

        async def connect() -> Any:
            return await asyncpg.connect(**kwargs)

        sql = insert_both_sql(
            calls.name, codec.insert_columns(calls), call_events.name, codec.insert_columns(call_events)
        )
        return PgInserter(connect, sql)

    @asynccontextmanager
    async def _write(self) -> AsyncIterator[AsyncConnection]:
        """A write transaction. SQLite has one writer at a time: its write transactions queue here, on
        the event loop, rather than in SQLite's busy handler (which sleeps up to 100 ms a try and, with
        a pool of connections all writing, turns a burst of updates into a convoy)."""
        if self._write_lock is None:
            async with self.engine.begin() as conn:
                yield conn
            return
        async with self._write_lock, self.engine.begin() as conn:
            yield conn

    async def _tx(self, fn: Callable[[Connection], R]) -> R:
        """`fn(connection)` in one write transaction, with SQLAlchemy Core statements on a synchronous
        connection: on a SQLite file, on the writer thread, which makes every write to the file
        (group-committed, see SqliteWriter); elsewhere through `run_sync`."""
        if self._sqlite_writer is not None:
            return await self._sqlite_writer.transaction(fn)
        async with self._write() as conn:
            return await conn.run_sync(fn)

    async def _read(self, fn: Callable[[Connection], R]) -> R:
        """`fn(connection)` for a read: on a SQLite file in one hop to the reader thread; elsewhere
        without a transaction around it (each of these reads is one statement: no BEGIN and ROLLBACK
        round trips)."""
        if self._sqlite_reader is not None:
            return await self._sqlite_reader.read(fn)
        async with self.engine.connect() as conn:
            if not self.is_sqlite:
                conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            return await conn.run_sync(fn)

    async def open(self) -> None:
        from callgate.store.migrate import upgrade

        async with self.engine.begin() as conn:
            await conn.run_sync(upgrade)

    async def close(self) -> None:
        await self._inserts.close()
        if self._pg_inserter is not None:
            await self._pg_inserter.close()
        if self._sqlite_writer is not None:
            await self._sqlite_writer.close()
        if self._sqlite_reader is not None:
            await self._sqlite_reader.close()
        await self.engine.dispose()

    async def _write_call_batch(self, batch: Sequence[tuple[tuple[Any, ...], tuple[Any, ...]]]) -> None:
        # Plain executemany with SQL built once: the request path's one write, kept lean.
        async with self._write() as conn:
            await conn.exec_driver_sql(self._insert_call_sql, [call_row for call_row, _ in batch])
            await conn.exec_driver_sql(self._insert_event_sql, [event_row for _, event_row in batch])


def as_utc(at: datetime) -> datetime:
    """A time as it reads back from the tables: aware UTC (a naive one is taken as UTC)."""
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


__all__ = ["SqlCore", "async_url"]
