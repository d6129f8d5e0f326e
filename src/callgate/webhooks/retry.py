"""When the outbox delivers a failing callback again: exponential backoff with jitter, up to a horizon.

A callback that gets no 2xx waits `waits_s[0]`, then `waits_s[1]`, ... before its next deliveries; after
the last listed wait each wait doubles, never above `max_wait_s`. Each wait is drawn at random between
its half and its whole ("equal jitter"), so the callbacks that failed together (a receiver that went
down under a wave of calls) do not all come back at the same instant. Deliveries go on until
`horizon_s` after the first one: the last is made at the horizon itself, and a failure there gives the
callback up. `max_deliveries`, when set, gives it up sooner.

Pure: the caller passes the time (`now`) and the random draw, so the schedule is tested without sleeps.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True, slots=True)
class RetrySchedule:
    """The outbox's schedule of deliveries for a callback that keeps failing."""

    waits_s: tuple[float, ...] = (1.0, 5.0, 30.0)
    max_wait_s: float = 300.0
    horizon_s: float = 3600.0
    max_deliveries: int | None = None

    def __post_init__(self) -> None:
        if not self.waits_s or min(self.waits_s) <= 0 or self.max_wait_s <= 0:
            raise ValueError("the waits between deliveries must be positive")
        if self.horizon_s < 0:
            raise ValueError("the retry horizon cannot be negative")
        if self.max_deliveries is not None and self.max_deliveries < 1:
            raise ValueError("a callback is delivered at least once")

    def wait_s(self, deliveries: int) -> float:
        """The longest wait after the `deliveries`-th delivery failed (1 for the first), before jitter."""
        listed = len(self.waits_s)
        if deliveries <= listed:
            wait = self.waits_s[max(deliveries, 1) - 1]
        else:
            # Doubling from the last listed wait; the exponent is bounded so it cannot overflow.
            wait = self.waits_s[-1] * 2.0 ** min(deliveries - listed, 64)
        return min(wait, self.max_wait_s)

    def next_due(self, *, deliveries: int, first_at: datetime, now: datetime, draw: float) -> datetime | None:
        """When to deliver again a callback whose `deliveries`-th delivery has just failed at `now`, its
        first one having started at `first_at`; None when it is given up. `draw` is uniform in [0, 1)."""
        if self.max_deliveries is not None and deliveries >= self.max_deliveries:
            return None
        horizon = first_at + timedelta(seconds=self.horizon_s)
        if now >= horizon:
            return None
        wait = self.wait_s(deliveries) * (0.5 + 0.5 * draw)
        return min(now + timedelta(seconds=wait), horizon)
