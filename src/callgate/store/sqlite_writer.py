"""The SQLite write path: one stdlib connection on one thread of its own, and a reader beside it.

Each batch from `InsertBatcher`, and each transaction of the engine's hot path (`transaction`), is one
hop to that thread, instead of a hop per statement through aiosqlite (and a greenlet switch around
each): the event loop and the writer stop trading the GIL per statement. The statements of a
transaction run through a synchronous SQLAlchemy connection over that same stdlib connection, so the
SQL is the same as on PostgreSQL, where the store runs the same function with `run_sync`.
Hot reads go the same way through a second connection on a reader thread (WAL lets it read beside
the writer).
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, create_engine
from sqlalchemy.pool import StaticPool

from callgate.store.codec import insert_sql
from callgate.store.tables import call_events, calls

R = TypeVar("R")


def sqlite_pragmas(dbapi_connection: Any, _record: Any = None) -> None:
    """WAL lets readers run beside the one writer. synchronous=NORMAL: a commit survives a crash
    of the process (what `make serve` and a restart need); the last commits before a power failure
    may not. PostgreSQL is the store for stronger durability."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    mode = cursor.fetchone()
    if mode is not None and str(mode[0]).lower() not in {"wal", "memory"}:
        cursor.close()
        raise sqlite3.OperationalError(f"SQLite could not switch to WAL mode (it reports {mode[0]!r})")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def is_row_error(exc: BaseException) -> bool:
    """Errors that belong to a row (a constraint it breaks, a value it holds), not to the database."""
    # OverflowError and ProgrammingError: a value SQLite cannot bind (an integer past 64 bits, an
    # unsupported type); at worst a database-wide ProgrammingError costs a row-by-row retry.
    return isinstance(
        exc,
        sqlite3.IntegrityError
        | sqlite3.DataError
        | sqlite3.InterfaceError
        | sqlite3.ProgrammingError
        | OverflowError,
    )


class _SqliteThread:
    """One stdlib connection (autocommit: transactions are begun explicitly) used from one thread,
    with a SQLAlchemy engine over it for the statements built with SQLAlchemy Core."""

    def __init__(self, path: str, name: str) -> None:
        self._path = path
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
        self._conn: sqlite3.Connection | None = None
        self._engine: Engine | None = None

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            conn = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
            sqlite_pragmas(conn)
            self._conn = conn
        return self._conn

    def _sqlalchemy(self) -> Engine:
        if self._engine is None:
            # StaticPool: every checkout is this thread's one connection, never a new one.
            self._engine = create_engine("sqlite://", creator=self._connection, poolclass=StaticPool)
        return self._engine

    def _reset(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    async def _call(self, fn: Callable[..., R], *args: Any) -> R:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    async def close(self) -> None:
        await self._call(self._reset)
        self._executor.shutdown(wait=False)


class SqliteReader(_SqliteThread):
    """Reads on a connection of their own, one at a time, each in one hop."""

    def __init__(self, path: str) -> None:
        super().__init__(path, "callgate-sqlite-reader")

    def _read(self, fn: Callable[[Connection], R]) -> R:
        with self._sqlalchemy().connect() as conn:
            try:
                return fn(conn)
            finally:
                # End the read transaction, so the WAL is not held back by an old snapshot.
                conn.rollback()

    async def read(self, fn: Callable[[Connection], R]) -> R:
        """`fn(connection)` on the reader thread."""
        return await self._call(self._read, fn)


class SqliteWriter(_SqliteThread):
    """Writes to the SQLite file at `path`: batches of (call row, event row), and transactions."""

    def __init__(self, path: str) -> None:
        super().__init__(path, "callgate-sqlite-writer")
        self._call_sql = insert_sql("qmark", calls)
        self._event_sql = insert_sql("qmark", call_events)

    def _transaction(self, fn: Callable[[Connection], R]) -> R:
        raw = self._connection()
        with self._sqlalchemy().connect() as conn:
            try:
                raw.execute("BEGIN IMMEDIATE")
                result = fn(conn)
                raw.execute("COMMIT")
                return result
            finally:
                if raw.in_transaction:
                    try:
                        raw.execute("ROLLBACK")
                    except sqlite3.Error:
                        self._reset()

    async def transaction(self, fn: Callable[[Connection], R]) -> R:
        """`fn(connection)` in one write transaction (BEGIN IMMEDIATE ... COMMIT) on the writer thread:
        committed if it returns, rolled back if it raises."""
        return await self._call(self._transaction, fn)

    def _write(self, batch: Sequence[tuple[tuple[Any, ...], tuple[Any, ...]]]) -> None:
        conn = self._connection()
        try:
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany(self._call_sql, [call_row for call_row, _ in batch])
            conn.executemany(self._event_sql, [event_row for _, event_row in batch])
            conn.execute("COMMIT")
        finally:
            # Whatever failed (a row, the commit itself), never leave the connection in a transaction.
            if conn.in_transaction:
                try:
                    conn.execute("ROLLBACK")
                except sqlite3.Error:
                    self._reset()

    async def write_call_batch(self, batch: Sequence[tuple[tuple[Any, ...], tuple[Any, ...]]]) -> None:
        await self._call(self._write, batch)
