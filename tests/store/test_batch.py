"""InsertBatcher: group commit, per-row retry, whole-batch failure, cancellation and close."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any

import pytest

from callgate.store.batch import BatcherClosed, InsertBatcher

pytestmark = pytest.mark.anyio

# Only a regression waits this long: every test that could hang bounds its wait with it.
HANG_TIMEOUT = 5


def row(n: int) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
    """A (call row, event row) pair the fake writer can tell apart."""
    return (f"call-{n}",), (f"event-{n}",)


class RowError(Exception):
    """What the fake database raises for a bad row."""


class FakeWriter:
    """A `write_many` that records each batch, and can block on `gate` or raise what `fail` returns."""

    def __init__(self, fail: Callable[[Sequence[Any]], BaseException | None] | None = None) -> None:
        self.batches: list[list[Any]] = []
        self.fail = fail
        self.gate: asyncio.Event | None = None
        self.entered = asyncio.Event()  # set when a write starts
        self.committed: list[Any] = []  # rows of the batches that returned normally

    def block(self) -> asyncio.Event:
        self.gate = asyncio.Event()
        return self.gate

    async def __call__(self, batch: Sequence[Any]) -> None:
        self.batches.append(list(batch))
        self.entered.set()
        if self.gate is not None:
            await self.gate.wait()
        if self.fail is not None:
            exc = self.fail(batch)
            if exc is not None:
                raise exc
        self.committed.extend(batch)

    @property
    def sizes(self) -> list[int]:
        return [len(b) for b in self.batches]

    async def wait_for_write(self, count: int) -> None:
        """Until `count` writes have started."""
        while len(self.batches) < count:
            self.entered.clear()
            await asyncio.wait_for(self.entered.wait(), HANG_TIMEOUT)


async def turn(rounds: int = 5) -> None:
    """Let the event loop run the ready tasks a few times over."""
    for _ in range(rounds):
        await asyncio.sleep(0)


def submit_all(batcher: InsertBatcher, ns: range | list[int]) -> list[asyncio.Task[None]]:
    return [asyncio.create_task(batcher.submit(row(n))) for n in ns]


async def settle(tasks: list[asyncio.Task[None]]) -> list[Any]:
    """Every task's outcome (a result or the exception), or a TimeoutError if one of them hangs."""
    return await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), HANG_TIMEOUT)


async def test_a_single_submit_returns_after_its_batch_is_written():
    writer = FakeWriter()
    batcher = InsertBatcher(writer)
    await asyncio.wait_for(batcher.submit(row(0)), HANG_TIMEOUT)
    assert writer.batches == [[row(0)]]
    assert writer.committed == [row(0)]


async def test_concurrent_submits_share_batches_while_a_write_is_in_flight():
    writer = FakeWriter()
    gate = writer.block()
    batcher = InsertBatcher(writer)
    first = submit_all(batcher, [0])
    await writer.wait_for_write(1)
    n = 20
    rest = submit_all(batcher, range(1, n))
    await turn()
    # Nobody is answered while the transaction holding their rows has not committed.
    assert not any(t.done() for t in first + rest)
    assert writer.sizes == [1]

    gate.set()
    results = await settle(first + rest)

    assert results == [None] * n
    assert len(writer.batches) <= 2
    assert writer.sizes == [1, n - 1]
    assert sorted(writer.committed) == sorted(row(i) for i in range(n))


async def test_submits_in_one_loop_turn_make_one_batch():
    writer = FakeWriter()
    batcher = InsertBatcher(writer)
    results = await settle(submit_all(batcher, range(10)))
    assert results == [None] * 10
    assert writer.sizes == [10]
    assert writer.batches[0] == [row(i) for i in range(10)]


async def test_a_row_error_is_retried_row_by_row_and_fails_only_the_bad_row():
    bad = row(1)

    def fail(batch):
        return RowError(f"bad row {bad[0][0]}") if bad in batch else None

    writer = FakeWriter(fail)
    batcher = InsertBatcher(writer, is_row_error=lambda exc: isinstance(exc, RowError), linger_s=0)
    results = await settle(submit_all(batcher, range(3)))

    assert results[0] is None
    assert isinstance(results[1], RowError) and str(results[1]) == "bad row call-1"
    assert results[2] is None
    assert writer.batches == [[row(0), row(1), row(2)], [row(0)], [row(1)], [row(2)]]
    assert writer.committed == [row(0), row(2)]


async def test_a_row_error_on_a_single_row_is_not_retried():
    writer = FakeWriter(lambda batch: RowError("bad"))
    batcher = InsertBatcher(writer, is_row_error=lambda exc: isinstance(exc, RowError))
    with pytest.raises(RowError):
        await asyncio.wait_for(batcher.submit(row(0)), HANG_TIMEOUT)
    assert writer.sizes == [1]


async def test_an_error_not_blamed_on_the_rows_fails_the_whole_batch_with_that_error():
    lost = ConnectionError("connection lost")
    writer = FakeWriter(lambda batch: lost)
    batcher = InsertBatcher(writer, is_row_error=lambda exc: isinstance(exc, RowError))
    results = await settle(submit_all(batcher, range(3)))

    assert all(r is lost for r in results)
    assert writer.sizes == [3]


async def test_without_is_row_error_a_row_error_fails_the_whole_batch():
    writer = FakeWriter(lambda batch: RowError("bad"))
    batcher = InsertBatcher(writer)
    results = await settle(submit_all(batcher, range(3)))
    assert all(isinstance(r, RowError) for r in results)
    assert writer.sizes == [3]


async def test_the_batcher_keeps_working_after_a_failed_batch():
    failures = [ConnectionError("once")]
    writer = FakeWriter(lambda batch: failures.pop() if failures else None)
    batcher = InsertBatcher(writer)
    with pytest.raises(ConnectionError):
        await asyncio.wait_for(batcher.submit(row(0)), HANG_TIMEOUT)
    await asyncio.wait_for(batcher.submit(row(1)), HANG_TIMEOUT)
    assert writer.committed == [row(1)]


async def test_a_cancelled_caller_still_has_its_pending_rows_written():
    writer = FakeWriter()
    gate = writer.block()
    batcher = InsertBatcher(writer)
    first = submit_all(batcher, [0])
    await writer.wait_for_write(1)
    quitter, stayer = submit_all(batcher, [1, 2])
    await turn()

    quitter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await quitter
    gate.set()
    results = await settle(first + [stayer])

    assert results == [None, None]
    assert writer.batches == [[row(0)], [row(1), row(2)]]
    assert row(1) in writer.committed
    assert not batcher._writer.cancelled()


async def test_a_caller_cancelled_during_its_write_does_not_stop_it():
    writer = FakeWriter()
    gate = writer.block()
    batcher = InsertBatcher(writer)
    (quitter,) = submit_all(batcher, [0])
    await writer.wait_for_write(1)
    (later,) = submit_all(batcher, [1])
    await turn()

    quitter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await quitter
    gate.set()
    assert await settle([later]) == [None]
    assert writer.committed == [row(0), row(1)]


async def test_close_waits_for_taken_rows_then_refuses_new_ones():
    writer = FakeWriter()
    gate = writer.block()
    batcher = InsertBatcher(writer)
    in_flight = submit_all(batcher, [0])
    await writer.wait_for_write(1)
    pending = submit_all(batcher, [1])
    await turn()

    closing = asyncio.create_task(batcher.close())
    await turn()
    assert not closing.done()
    with pytest.raises(BatcherClosed):
        await asyncio.wait_for(batcher.submit(row(2)), HANG_TIMEOUT)

    gate.set()
    await asyncio.wait_for(closing, HANG_TIMEOUT)
    # close() returned only after every row taken before it was written and answered.
    assert all(t.done() for t in in_flight + pending)
    assert await settle(in_flight + pending) == [None, None]
    assert writer.committed == [row(0), row(1)]
    with pytest.raises(BatcherClosed):
        await asyncio.wait_for(batcher.submit(row(3)), HANG_TIMEOUT)
    assert row(2) not in writer.committed and row(3) not in writer.committed


async def test_close_of_an_unused_batcher_returns_and_refuses_rows():
    writer = FakeWriter()
    batcher = InsertBatcher(writer)
    await asyncio.wait_for(batcher.close(), HANG_TIMEOUT)
    with pytest.raises(BatcherClosed):
        await asyncio.wait_for(batcher.submit(row(0)), HANG_TIMEOUT)
    assert writer.batches == []


async def test_close_returns_even_when_the_last_batch_failed():
    writer = FakeWriter(lambda batch: ConnectionError("lost"))
    batcher = InsertBatcher(writer)
    tasks = submit_all(batcher, range(2))
    await turn()
    await asyncio.wait_for(batcher.close(), HANG_TIMEOUT)
    assert all(isinstance(r, ConnectionError) for r in await settle(tasks))


async def test_cancelling_the_writer_mid_write_leaves_no_caller_waiting():
    writer = FakeWriter()
    writer.block()
    batcher = InsertBatcher(writer)
    in_flight = submit_all(batcher, [0])
    await writer.wait_for_write(1)
    pending = submit_all(batcher, [1, 2])
    await turn()

    batcher._writer.cancel()
    results = await settle(in_flight + pending)  # a TimeoutError here means a caller hung

    # Nobody whose rows were not committed is told they were.
    assert all(isinstance(r, asyncio.CancelledError | Exception) for r in results)
    assert writer.sizes == [1]

    # A later submit starts a new writer.
    writer.gate = None
    await asyncio.wait_for(batcher.submit(row(3)), HANG_TIMEOUT)
    assert writer.committed == [row(3)]


async def test_max_batch_is_honoured():
    writer = FakeWriter()
    batcher = InsertBatcher(writer, max_batch=3, linger_s=0)
    results = await settle(submit_all(batcher, range(8)))
    assert results == [None] * 8
    assert writer.sizes == [3, 3, 2]
    assert [r for b in writer.batches for r in b] == [row(i) for i in range(8)]


async def test_max_batch_is_honoured_for_rows_that_arrive_during_a_write():
    writer = FakeWriter()
    gate = writer.block()
    batcher = InsertBatcher(writer, max_batch=4)
    first = submit_all(batcher, [0])
    await writer.wait_for_write(1)
    rest = submit_all(batcher, range(1, 11))
    await turn()
    gate.set()
    assert await settle(first + rest) == [None] * 11
    assert writer.sizes == [1, 4, 4, 2]


# A writer cancelled outside `write_many` itself (gathering, retrying row by row) strands nobody either.


async def test_cancelling_the_writer_while_it_gathers_leaves_no_caller_waiting():
    writer = FakeWriter()
    batcher = InsertBatcher(writer, linger_s=60)  # the writer sits in its linger sleep
    tasks = submit_all(batcher, range(2))
    await turn()
    assert writer.batches == []

    batcher._writer.cancel()
    results = await settle(tasks)
    assert all(isinstance(r, asyncio.CancelledError) for r in results)


async def test_cancelling_the_writer_during_the_row_by_row_retry_leaves_no_caller_waiting():
    retrying = asyncio.Event()
    batches: list[int] = []

    async def write_many(batch):
        batches.append(len(batch))
        if len(batch) > 1:
            raise RowError("bad")
        retrying.set()
        await asyncio.Event().wait()  # the single-row retry never finishes on its own

    batcher = InsertBatcher(write_many, is_row_error=lambda exc: isinstance(exc, RowError), linger_s=0)
    tasks = submit_all(batcher, range(3))
    await asyncio.wait_for(retrying.wait(), HANG_TIMEOUT)
    assert batches == [3, 1]

    batcher._writer.cancel()
    results = await settle(tasks)  # a TimeoutError here means a caller hung
    assert all(isinstance(r, asyncio.CancelledError | Exception) for r in results)


class FakeStarter:
    """A `start_many`: records each batch the moment it is started and returns a future the test
    settles (or that `fail` settles at once with an error)."""

    def __init__(self, fail: Callable[[Sequence[Any]], BaseException | None] | None = None) -> None:
        self.started: list[list[Any]] = []
        self.writes: list[asyncio.Future[None]] = []
        self.fail = fail

    def __call__(self, batch: Sequence[Any]) -> asyncio.Future[None]:
        self.started.append(list(batch))
        write: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        exc = self.fail(batch) if self.fail is not None else None
        if exc is not None:
            write.set_exception(exc)
        self.writes.append(write)
        return write

    def commit_all(self) -> None:
        for write in self.writes:
            if not write.done():
                write.set_result(None)


async def test_started_batches_leave_as_they_fill_within_one_loop_turn():
    """With `start_many`, the eighth row starts a batch inside its own submit, before the loop's turn
    ends (so the loop goes on with the other requests while it is written); the rest leaves at the
    end of the turn; nobody is answered before their batch commits."""
    starter = FakeStarter()
    batcher = InsertBatcher(FakeWriter(), start_many=starter, eager_rows=8)
    tasks = [asyncio.ensure_future(batcher.submit(row(n))) for n in range(20)]
    await asyncio.sleep(0)  # one turn: the 20 submits run
    assert [len(b) for b in starter.started] == [8, 8]  # started inside the 8th and 16th submits
    await asyncio.sleep(0)  # the end of that turn
    assert [len(b) for b in starter.started] == [8, 8, 4]
    assert starter.started[0] == [row(n) for n in range(8)]
    assert not any(t.done() for t in tasks)
    starter.commit_all()
    await asyncio.wait_for(asyncio.gather(*tasks), HANG_TIMEOUT)
    await batcher.close()


async def test_started_batches_retry_a_row_error_row_by_row():
    def fail(batch: Sequence[Any]) -> BaseException | None:
        return RowError("bad row") if row(2) in batch else None

    starter = FakeStarter(fail)
    writer = FakeWriter(fail)
    batcher = InsertBatcher(
        writer, start_many=starter, eager_rows=8, is_row_error=lambda e: isinstance(e, RowError)
    )
    results = await asyncio.wait_for(
        asyncio.gather(*(batcher.submit(row(n)) for n in range(4)), return_exceptions=True), HANG_TIMEOUT
    )
    assert [type(r) for r in results] == [type(None), type(None), RowError, type(None)]
    assert writer.sizes == [1, 1, 1, 1]  # the retry, one row at a time
    assert sorted(writer.committed) == [row(0), row(1), row(3)]
    await batcher.close()


async def test_close_waits_for_every_started_batch_and_writes_what_is_pending():
    starter = FakeStarter()
    batcher = InsertBatcher(FakeWriter(), start_many=starter, eager_rows=2)
    submits = [asyncio.ensure_future(batcher.submit(row(n))) for n in range(3)]
    await asyncio.sleep(0)  # rows 0 and 1 started; row 2 waits for the end of the turn
    closing = asyncio.ensure_future(batcher.close())
    await asyncio.sleep(0)
    assert [len(b) for b in starter.started] == [2, 1]
    assert not closing.done()
    starter.commit_all()
    await asyncio.wait_for(closing, HANG_TIMEOUT)
    await asyncio.wait_for(asyncio.gather(*submits), HANG_TIMEOUT)
    with pytest.raises(BatcherClosed):
        await batcher.submit(row(9))
