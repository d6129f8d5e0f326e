"""Calls per second per account: a token bucket per account, on a clock the caller hands in.

The vendors queue calls beyond an account's rate instead of refusing them (Twilio's CPS); the worker
takes a token before it dials and leaves the call queued while there is none.
"""

from __future__ import annotations

from uuid import UUID


class CpsLimiter:
    """`rate` calls per second per account, with bursts of up to `burst` (at least 1)."""

    def __init__(self, rate: float, burst: float | None = None) -> None:
        if rate <= 0:
            raise ValueError(f"calls per second must be positive, not {rate}")
        self.rate = rate
        self.burst = max(1.0, burst if burst is not None else rate)
        self._buckets: dict[UUID, tuple[float, float]] = {}  # account -> (tokens, at)

    def take(self, account: UUID, now: float) -> bool:
        """Take a token for one call of `account` at `now` (seconds); False if none is left."""
        tokens, at = self._buckets.get(account, (self.burst, now))
        tokens = min(self.burst, tokens + max(0.0, now - at) * self.rate)
        if tokens < 1.0:
            self._buckets[account] = (tokens, now)
            return False
        self._buckets[account] = (tokens - 1.0, now)
        return True

    def waiting(self, now: float) -> dict[UUID, float]:
        """The accounts with no token at `now`, and the seconds until each has one."""
        out = {}
        for account in self._buckets:
            wait = self.wait_s(account, now)
            if wait > 0:
                out[account] = wait
        return out

    def wait_s(self, account: UUID, now: float) -> float:
        """Seconds until `account` has a token again (0 if it has one)."""
        tokens, at = self._buckets.get(account, (self.burst, now))
        tokens = min(self.burst, tokens + max(0.0, now - at) * self.rate)
        return 0.0 if tokens >= 1.0 else (1.0 - tokens) / self.rate
