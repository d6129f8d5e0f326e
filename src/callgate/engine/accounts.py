"""Accounts: creation with fresh credentials, and a small cache for authenticating requests."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from datetime import UTC, datetime
from uuid import UUID

from callgate.core.call import Account
from callgate.core.ids import uuid7
from callgate.store.base import Store


def new_account(name: str, now: datetime | None = None) -> Account:
    """An account with random credentials for each of its three faces."""
    return Account(
        id=uuid7(),
        name=name,
        created_at=now or datetime.now(UTC),
        auth_token=secrets.token_hex(16),
        signalwire_token="PT" + secrets.token_hex(24),
        bandwidth_account_id=str(secrets.randbelow(9_000_000) + 1_000_000),
        bandwidth_username="cg-" + secrets.token_hex(6),
        bandwidth_password=secrets.token_urlsafe(18),
    )


class AccountDirectory:
    """Looks accounts up by id, caching hits for `ttl_s` so the request path does no extra query.

    Misses are never cached: an account created by `callgate accounts create` in another process
    is found on its first request.
    """

    def __init__(
        self, store: Store, ttl_s: float = 30.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._store = store
        self._ttl_s = ttl_s
        self._clock = clock
        self._cache: dict[UUID, tuple[float, Account]] = {}

    async def get(self, account_id: UUID) -> Account | None:
        now = self._clock()
        hit = self._cache.get(account_id)
        if hit is not None and hit[0] > now:
            return hit[1]
        account = await self._store.get_account(account_id)
        if account is not None:
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[account_id] = (now + self._ttl_s, account)
        return account

    async def create(self, name: str) -> Account:
        account = new_account(name)
        await self._store.create_account(account)
        return account
