"""Accounts: creation with fresh credentials, and a small cache for authenticating requests."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Callable
from datetime import UTC, datetime
from uuid import UUID

import sqlalchemy.exc

from callgate.core.call import Account
from callgate.engine.clock import new_id
from callgate.store.base import Store

_CREATE_ATTEMPTS = 5


def new_account(name: str, now: datetime | None = None) -> Account:
    """An account with random credentials for each of its three faces."""
    return Account(
        id=new_id(),
        name=name,
        created_at=now or datetime.now(UTC),
        auth_token=secrets.token_hex(16),
        signalwire_token="PT" + secrets.token_hex(24),
        signalwire_signing_key="PSK_" + secrets.token_hex(16),
        # Bandwidth account ids are seven digits; a clash with an existing one is drawn again.
        bandwidth_account_id=str(secrets.randbelow(9_000_000) + 1_000_000),
        bandwidth_username="cg-" + secrets.token_hex(6),
        bandwidth_password=secrets.token_urlsafe(18),
    )


async def create_account(store: Store, name: str) -> Account:
    """Create and store an account, drawing its ids again on the rare clash with an existing one."""
    for attempt in range(_CREATE_ATTEMPTS):
        account = new_account(name)
        try:
            await store.create_account(account)
        except sqlalchemy.exc.IntegrityError:
            if attempt == _CREATE_ATTEMPTS - 1:
                raise
            continue
        return account
    raise AssertionError("unreachable")


class AccountDirectory:
    """Looks accounts up by id for authentication, from a cache.

    Hits are kept for `ttl_s`, misses for `miss_ttl_s`: requests naming an account that does not
    exist cost one query per id every couple of seconds, not one each, and an account created by
    `callgate accounts create` in another process is found within `miss_ttl_s`. Requests that
    arrive while an id is being looked up wait for that one query: when an entry expires under
    load, the requests in flight cost one read, not one each.
    """

    def __init__(
        self,
        store: Store,
        ttl_s: float = 30.0,
        miss_ttl_s: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._ttl_s = ttl_s
        self._miss_ttl_s = miss_ttl_s
        self._clock = clock
        self._cache: dict[UUID, tuple[float, Account | None]] = {}
        self._reading: dict[UUID, asyncio.Future[Account | None]] = {}

    async def get(self, account_id: UUID) -> Account | None:
        now = self._clock()
        hit = self._cache.get(account_id)
        if hit is not None and hit[0] > now:
            return hit[1]
        while (reading := self._reading.get(account_id)) is not None:
            # Someone is reading it: share the answer (shielded: a waiter going away does not cancel it).
            try:
                return await asyncio.shield(reading)
            except asyncio.CancelledError:
                task = asyncio.current_task()
                if not reading.cancelled() or (task is not None and task.cancelling()):
                    raise  # this request was cancelled (perhaps in the same turn as the reader)
                # the reader's request went away before the answer: read it here
        reading = self._reading[account_id] = asyncio.get_running_loop().create_future()
        try:
            account = await self._store.get_account(account_id)
        except BaseException as exc:
            if isinstance(exc, Exception):
                reading.set_exception(exc)
                reading.exception()  # retrieved: nobody else may be waiting
            else:
                reading.cancel()
            raise
        finally:
            del self._reading[account_id]
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[account_id] = (now + (self._ttl_s if account else self._miss_ttl_s), account)
        reading.set_result(account)
        return account

    async def create(self, name: str) -> Account:
        account = await create_account(self._store, name)
        self._cache.pop(account.id, None)
        return account
