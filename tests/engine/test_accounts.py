"""The account directory: authentication's cache in front of the store."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

from callgate.core.call import Account
from callgate.engine.accounts import AccountDirectory, create_account
from callgate.store import SqlStore

pytestmark = pytest.mark.anyio


class CountingStore(SqlStore):
    """A real SQLite store that counts its account reads and can hold them until released."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.reads = 0
        self.gate: asyncio.Event | None = None
        self.fail: Exception | None = None

    async def get_account(self, account_id: Any) -> Any:
        self.reads += 1
        if self.gate is not None:
            await self.gate.wait()
        if self.fail is not None:
            raise self.fail
        return await super().get_account(account_id)


@pytest.fixture
async def store(tmp_path: Any) -> Any:
    s = CountingStore(f"sqlite:///{tmp_path}/a.db")
    await s.open()
    yield s
    await s.close()


async def gated(store: CountingStore) -> tuple[Account, AccountDirectory]:
    """An account, a directory in front of the store, and the store's reads held until
    `store.gate` is set."""
    account = await create_account(store, "a")
    store.gate = asyncio.Event()
    return account, AccountDirectory(store, clock=Clock())


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_hits_are_kept_until_they_expire(store: CountingStore) -> None:
    account = await create_account(store, "a")
    clock = Clock()
    directory = AccountDirectory(store, ttl_s=30, miss_ttl_s=2, clock=clock)
    assert await directory.get(account.id) == account
    clock.now += 29
    assert await directory.get(account.id) == account
    assert store.reads == 1
    clock.now += 2
    assert await directory.get(account.id) == account
    assert store.reads == 2


async def test_requests_arriving_during_a_read_share_it(store: CountingStore) -> None:
    account, directory = await gated(store)
    waiting = [asyncio.ensure_future(directory.get(account.id)) for _ in range(32)]
    await asyncio.sleep(0)
    store.gate.set()
    assert await asyncio.gather(*waiting) == [account] * 32
    assert store.reads == 1


async def test_a_failed_read_fails_those_sharing_it_and_the_next_request_reads_again(
    store: CountingStore,
) -> None:
    account, directory = await gated(store)
    store.fail = OSError("the database is gone")
    waiting = [asyncio.ensure_future(directory.get(account.id)) for _ in range(3)]
    await asyncio.sleep(0)
    store.gate.set()
    outcomes = await asyncio.gather(*waiting, return_exceptions=True)
    assert all(isinstance(o, OSError) for o in outcomes) and store.reads == 1
    store.gate, store.fail = None, None
    assert await directory.get(account.id) == account
    assert store.reads == 2


async def test_a_reader_that_goes_away_leaves_the_others_their_answer(store: CountingStore) -> None:
    account, directory = await gated(store)
    first = asyncio.ensure_future(directory.get(account.id))
    await asyncio.sleep(0)
    others = [asyncio.ensure_future(directory.get(account.id)) for _ in range(2)]
    await asyncio.sleep(0)
    first.cancel()  # its client disconnected mid-read
    await asyncio.sleep(0)
    store.gate.set()
    assert await asyncio.gather(*others) == [account, account]
    assert first.cancelled()
    assert store.reads == 2  # the reader's read was lost with it; one of the others read again


async def test_an_unknown_account_is_remembered_briefly(store: CountingStore) -> None:
    clock = Clock()
    directory = AccountDirectory(store, ttl_s=30, miss_ttl_s=2, clock=clock)
    unknown = uuid.uuid4()
    assert await directory.get(unknown) is None
    assert await directory.get(unknown) is None
    assert store.reads == 1
    clock.now += 2.5
    assert await directory.get(unknown) is None
    assert store.reads == 2


async def test_a_waiter_cancelled_with_the_reader_stays_cancelled(store: CountingStore) -> None:
    account, directory = await gated(store)
    reader = asyncio.ensure_future(directory.get(account.id))
    await asyncio.sleep(0)
    waiter = asyncio.ensure_future(directory.get(account.id))
    await asyncio.sleep(0)
    reader.cancel()
    waiter.cancel()  # the same turn: a shutdown, or a timeout shared by both
    await asyncio.gather(reader, waiter, return_exceptions=True)
    assert reader.cancelled() and waiter.cancelled()
    assert store.reads == 1  # nobody read again on the waiter's behalf
