"""New calls on PostgreSQL: one round trip a batch, on connections of their own, several at a time.

Through SQLAlchemy, a batch of new calls was four round trips on a pooled connection (BEGIN, one
executemany per table, COMMIT), one batch after the other: under load the event loop sat idle
waiting for the commit, and SQLAlchemy's asyncio adapter (greenlets, cursor wrappers) took a good
share of the loop's time (py-spy shows both). Here a batch is one statement per new
call that inserts both its rows (a data-modifying WITH), sent with asyncpg's `executemany`: the
Binds of every row and a single Sync, which PostgreSQL runs as one implicit transaction, committed
once (all the rows or none). Up to `connections` batches are in flight, each on its own connection; batches
that arrive while all are busy wait and leave together on the next free one. A merged batch that
fails is retried batch by batch, so that each caller gets its own batch's outcome (and
`InsertBatcher` can go on to retry a failing batch row by row).

A connection that fails other than by an error the server reports for the rows (a lost socket, a
driver state it cannot go on from) is dropped and a new one opened for the next batch; the batch
on it fails with the driver's error (the rows may or may not have been committed, as with any lost
commit).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import asyncpg

from callgate.store.batch import Rows, settle

log = logging.getLogger(__name__)

Connect = Callable[[], Awaitable[Any]]  # opens an asyncpg connection


def insert_both_sql(
    call_table: str, call_columns: Sequence[str], event_table: str, event_columns: Sequence[str]
) -> str:
    """One statement inserting a call row and its event row (parameters: the call's columns, then
    the event's), in asyncpg's $n markers."""
    n = len(call_columns)
    call_marks = ", ".join(f"${i}" for i in range(1, n + 1))
    event_marks = ", ".join(f"${i}" for i in range(n + 1, n + 1 + len(event_columns)))
    return (
        f"WITH new_call AS (INSERT INTO {call_table} ({', '.join(call_columns)}) VALUES ({call_marks})) "
        f"INSERT INTO {event_table} ({', '.join(event_columns)}) VALUES ({event_marks})"
    )


class PgInserter:
    """`start(batch)` sends the batch now if a connection is free (else with the next batches on the
    next free one) and returns a future that completes once it is committed."""

    def __init__(self, connect: Connect, sql: str, *, connections: int = 2, max_rows: int = 1024) -> None:
        if connections < 1:
            raise ValueError(f"the inserter needs at least one connection, not {connections}")
        self._connect = connect
        self._sql = sql
        self._max_rows = max_rows
        self._idle: list[Any] = []  # open connections waiting for a batch
        self._senders = 0
        self._connections = connections
        self._waiting: deque[tuple[Sequence[Rows], asyncio.Future[None]]] = deque()
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False

    def start(self, batch: Sequence[Rows]) -> asyncio.Future[None]:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self._closed:
            future.set_exception(RuntimeError("the PostgreSQL inserter is closed"))
            return future
        self._waiting.append((batch, future))
        if self._senders < self._connections:
            self._senders += 1
            task = asyncio.get_running_loop().create_task(self._send())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return future

    async def _send(self) -> None:
        """Send what waits, on one connection, until nothing waits."""
        conn: Any = None
        group: list[tuple[Sequence[Rows], asyncio.Future[None]]] = []
        try:
            while self._waiting:
                if conn is None:
                    conn = self._idle_connection() or await self._connect()
                    if not self._waiting:  # another sender took them meanwhile
                        break
                group = self._take()
                try:
                    await self._execute(conn, [rows for batch, _ in group for rows in batch])
                except Exception as exc:
                    if _broken(conn, exc):  # the batch is lost with the connection; the next opens anew
                        conn.terminate()
                        conn = None
                        _settle_all(group, exc)
                    elif len(group) == 1:
                        _settle_all(group, exc)
                    else:  # whose rows failed: each batch again, on its own
                        conn = await self._one_by_one(conn, group)
                else:
                    _settle_all(group, None)
                group = []
        except BaseException as exc:
            # cancelled (the store closing) or the connection would not open: nobody is left waiting
            _settle_all(group, exc)
            if self._senders == 1:  # the last sender: what still waits would never leave
                while self._waiting:
                    _settle_all([self._waiting.popleft()], exc)
            if not isinstance(exc, Exception):
                raise
        finally:
            self._senders -= 1
            if conn is not None:
                if self._closed:
                    await _close(conn)
                else:
                    self._idle.append(conn)

    async def _one_by_one(self, conn: Any, group: list[tuple[Sequence[Rows], asyncio.Future[None]]]) -> Any:
        """Each batch of a failed group on its own; the connection to go on with (None if it broke:
        the batches not yet tried go back to the front of the queue, for the next connection)."""
        for i, (batch, future) in enumerate(group):
            try:
                await self._execute(conn, batch)
            except Exception as exc:
                settle(future, exc)
                if _broken(conn, exc):
                    conn.terminate()
                    self._waiting.extendleft(reversed(group[i + 1 :]))
                    return None
            else:
                settle(future, None)
        return conn

    def _idle_connection(self) -> Any:
        """An idle connection still open (one the server closed meanwhile, after a restart say, is
        dropped here rather than failing a batch)."""
        while self._idle:
            conn = self._idle.pop()
            if not conn.is_closed():
                return conn
        return None

    def _take(self) -> list[tuple[Sequence[Rows], asyncio.Future[None]]]:
        group = [self._waiting.popleft()]
        rows = len(group[0][0])
        while self._waiting and rows + len(self._waiting[0][0]) <= self._max_rows:
            batch = self._waiting.popleft()
            group.append(batch)
            rows += len(batch[0])
        return group

    async def _execute(self, conn: Any, rows: Sequence[Rows]) -> None:
        await conn.executemany(self._sql, [call + event for call, event in rows])

    async def write(self, batch: Sequence[Rows]) -> None:
        """Write `batch` and wait for its commit (the row-by-row retry goes through here)."""
        await self.start(batch)

    async def close(self) -> None:
        """Wait for the batches in flight; close the connections."""
        self._closed = True
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        idle, self._idle = self._idle, []
        for conn in idle:
            await _close(conn)


def _broken(conn: Any, exc: BaseException) -> bool:
    """Whether `conn` is of no more use after `exc`: an error the server reported leaves the
    connection in step (the rows failed, not it); anything else (a lost socket, a protocol state the
    driver cannot go on from) does not."""
    return bool(conn.is_closed()) or not isinstance(exc, asyncpg.PostgresError)


async def _close(conn: Any) -> None:
    try:
        await asyncio.wait_for(conn.close(), timeout=5)
    except Exception as exc:  # closing a connection that broke: nothing is left to keep
        log.debug("closing a PostgreSQL insert connection: %r", exc)
        conn.terminate()


def _settle_all(group: Sequence[tuple[Any, asyncio.Future[None]]], exc: BaseException | None) -> None:
    for _, future in group:
        settle(future, exc)
