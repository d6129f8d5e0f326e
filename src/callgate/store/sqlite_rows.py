"""The SQLite statements that both writers of new calls share (the writer thread,
`callgate.store.sqlite_writer`, and the insert process, `callgate.store.sqlite_process`): the
connection's settings and the multi-row INSERTs of a batch. Only the standard library is imported
here, so that the insert process starts in a few tens of milliseconds."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any


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


class MultiRowInsert:
    """An `INSERT ... VALUES (?, ...)` run for many rows as few statements of many rows each
    (`VALUES (...), (...), ...`), not as executemany's one statement run per row.

    Why: the stdlib driver lets go of the interpreter lock around each run of a statement, and takes
    it back after. Beside an event loop that is busy, taking it back waits for the loop's thread to
    let go: up to the switch interval (5 ms). A thread inserting call rows by executemany beside
    a thread running Python makes a tiny fraction of the rows it makes alone.
    A batch of 32 calls made 64 such waits; as one statement per table it makes two.
    """

    #: rows per statement at most (each distinct row count is one more statement SQLite keeps prepared)
    MAX_ROWS = 32

    def __init__(self, sql: str) -> None:
        head, _, values = sql.partition(" VALUES ")
        self._head = head + " VALUES "
        self._values = values
        self._columns = values.count("?")
        self._sql: dict[int, str] = {}

    def run(self, conn: sqlite3.Connection, rows: Sequence[Sequence[Any]]) -> None:
        if not rows:
            return
        # SQLite refuses more bound parameters than its limit (999 before 3.32, 32,766 after).
        per = max(1, min(self.MAX_ROWS, conn.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) // self._columns))
        for start in range(0, len(rows), per):
            chunk = rows[start : start + per]
            conn.execute(self._statement(len(chunk)), [value for row in chunk for value in row])

    def _statement(self, count: int) -> str:
        sql = self._sql.get(count)
        if sql is None:
            sql = self._sql[count] = self._head + ", ".join([self._values] * count)
        return sql


def insert_rows(
    conn: sqlite3.Connection, calls: MultiRowInsert, events: MultiRowInsert, batch: Sequence[Any]
) -> None:
    """The calls' rows, then their first events' rows, in the transaction open on `conn`."""
    calls.run(conn, [call_row for call_row, _ in batch])
    events.run(conn, [event_row for _, event_row in batch])


def insert_batch(
    conn: sqlite3.Connection, calls: MultiRowInsert, events: MultiRowInsert, batch: Sequence[Any]
) -> None:
    """`insert_rows` as one transaction of its own."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        insert_rows(conn, calls, events, batch)
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
