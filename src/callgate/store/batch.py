"""Group commit: concurrent inserts share one transaction, and each caller still waits for its commit.

Creating a call is one row in `calls` and one in `call_events`. Under load, a transaction per request
spends most of its time in the driver and in the commit (and, on SQLite, waiting for the one write
lock). The batcher keeps one writer task: whatever rows arrive while a transaction is in flight go
into the next one, as one executemany per table. Nobody is answered before the transaction holding
their rows has committed. (How durable a commit is, is the database's setting: see `SqlStore`.)
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

_GATHER_ROUNDS = 16

Rows = tuple[tuple[Any, ...], tuple[Any, ...]]  # a call row and its first event row
WriteMany = Callable[[Sequence[Rows]], Awaitable[None]]
StartMany = Callable[[Sequence[Rows]], "asyncio.Future[None]"]


class BatcherClosed(RuntimeError):
    """The store is closing: no more rows are taken."""


class InsertBatcher:
    """Write (call row, event row) pairs in batches of up to `max_batch`, through `write_many`.

    The writer waits `linger_s` after the first row of a batch before it gathers the rest: under
    load that lets a whole wave of requests share one commit (bench/api_create.py shows
    the throughput it gains, docs/PERFORMANCE.md); idle, it adds `linger_s` to a create.

    When a batch fails with an error that `is_row_error` blames on the rows (a constraint, a value
    the column refuses), its rows are retried one by one so that only the bad ones fail. Any other
    error (a lost connection, a lock timeout) fails the whole batch at once.

    With `start_many` (a function that starts a write at once and returns its future: the SQLite
    store's insert process), batches are not written one after the other but started as they fill:
    a batch leaves as soon as `eager_rows` rows wait, and the rest at the end of the loop's turn.
    Under load the event loop then goes on parsing the next requests while the first rows are
    being written elsewhere, instead of parsing a whole wave of requests and then waiting for its
    one commit; several batches may be in flight.
    """

    def __init__(
        self,
        write_many: WriteMany,
        *,
        is_row_error: Callable[[BaseException], bool] = lambda exc: False,
        max_batch: int = 256,
        linger_s: float = 0.0003,
        start_many: StartMany | None = None,
        eager_rows: int = 8,
    ) -> None:
        self._write_many = write_many
        self._is_row_error = is_row_error
        self._max_batch = max_batch
        self._linger_s = linger_s
        self._start_many = start_many
        self._eager_rows = eager_rows
        self._pending: list[tuple[Rows, asyncio.Future[None]]] = []
        self._writer: asyncio.Task[None] | None = None
        self._flush_due = False
        self._in_flight: set[asyncio.Future[None]] = set()
        self._closed = False

    async def submit(self, rows: Rows) -> None:
        """Return once `rows` are committed; raise what the database raised for them."""
        if self._closed:
            raise BatcherClosed("the store is closed")
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((rows, future))
        if self._start_many is not None:
            if len(self._pending) >= self._eager_rows:
                self._start()
            elif not self._flush_due:
                self._flush_due = True
                asyncio.get_running_loop().call_soon(self._flush)
        elif self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._drain())
        # If the caller goes away, the rows are still written; `settle` skips its cancelled future.
        await future

    # started as they fill (start_many)

    def _flush(self) -> None:
        self._flush_due = False
        while self._pending:
            self._start()

    def _start(self) -> None:
        assert self._start_many is not None
        batch = self._pending[: self._max_batch]
        del self._pending[: self._max_batch]
        try:
            write = self._start_many([rows for rows, _ in batch])
        except Exception as exc:
            for _, future in batch:
                settle(future, exc)
            return
        self._in_flight.add(write)
        write.add_done_callback(lambda done: self._written(batch, done))

    def _written(self, batch: list[tuple[Rows, asyncio.Future[None]]], write: asyncio.Future[None]) -> None:
        self._in_flight.discard(write)
        exc = write.exception() if not write.cancelled() else asyncio.CancelledError()
        if exc is not None and len(batch) > 1 and self._is_row_error(exc):
            retry = asyncio.ensure_future(self._write_one_by_one(batch))
            self._in_flight.add(retry)
            retry.add_done_callback(self._in_flight.discard)
            return
        for _, future in batch:
            settle(future, exc)

    async def _gather(self) -> None:
        """Let the requests already read from their sockets join the batch before it is written.

        Each `sleep(0)` runs one more round of the event loop; once a round adds nothing, every
        request that was ready has been parsed and submitted.
        """
        if self._linger_s:
            await asyncio.sleep(self._linger_s)
        for _ in range(_GATHER_ROUNDS):
            waiting = len(self._pending)
            await asyncio.sleep(0)
            if len(self._pending) == waiting or len(self._pending) >= self._max_batch:
                return

    async def _drain(self) -> None:
        batch: list[tuple[Rows, asyncio.Future[None]]] = []
        try:
            while self._pending:
                await self._gather()
                batch = self._pending[: self._max_batch]
                del self._pending[: self._max_batch]
                try:
                    await self._write_many([rows for rows, _ in batch])
                except Exception as exc:
                    if len(batch) > 1 and self._is_row_error(exc):
                        await self._write_one_by_one(batch)
                    else:
                        for _, future in batch:
                            settle(future, exc)
                else:
                    for _, future in batch:
                        settle(future, None)
                batch = []
        except BaseException as exc:
            # Cancelled (or worse) at any point, gathering or writing: nobody may be left waiting.
            for _, future in batch + self._pending:
                settle(future, exc)
            self._pending.clear()
            raise

    async def _write_one_by_one(self, batch: list[tuple[Rows, asyncio.Future[None]]]) -> None:
        for rows, future in batch:
            try:
                await self._write_many([rows])
            except Exception as exc:
                settle(future, exc)
            else:
                settle(future, None)

    async def close(self) -> None:
        """Take no more rows; wait for the rows already taken to be written."""
        self._closed = True
        if self._start_many is not None:
            self._flush()
            while self._in_flight:
                await asyncio.gather(*self._in_flight, return_exceptions=True)
        if self._writer is not None:
            await asyncio.gather(self._writer, return_exceptions=True)


def settle(future: asyncio.Future[None], exc: BaseException | None) -> None:
    """Complete a writer's future with the outcome of its rows, unless its caller went away."""
    if future.done():
        return
    if exc is None:
        future.set_result(None)
    elif isinstance(exc, asyncio.CancelledError):
        future.cancel()
    else:
        future.set_exception(exc)
