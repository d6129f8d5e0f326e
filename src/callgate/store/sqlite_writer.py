"""The SQLite write path for new calls: one stdlib connection on one thread of its own.

Each batch from `InsertBatcher` is one hop to that thread and one transaction, instead of a hop per
statement through aiosqlite, which keeps the event loop and the writer from trading the GIL per row.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from callgate.store.codec import insert_sql
from callgate.store.tables import call_events, calls


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


class SqliteWriter:
    """Writes batches of (call row, event row) to the SQLite file at `path`."""

    def __init__(self, path: str) -> None:
        self._path = path
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="callgate-sqlite-writer")
        self._conn: sqlite3.Connection | None = None
        self._call_sql = insert_sql("qmark", calls)
        self._event_sql = insert_sql("qmark", call_events)

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            conn = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
            sqlite_pragmas(conn)
            self._conn = conn
        return self._conn

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

    def _reset(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    async def write_call_batch(self, batch: Sequence[tuple[tuple[Any, ...], tuple[Any, ...]]]) -> None:
        await asyncio.get_running_loop().run_in_executor(self._executor, self._write, batch)

    async def close(self) -> None:
        await asyncio.get_running_loop().run_in_executor(self._executor, self._reset)
        self._executor.shutdown(wait=False)
