"""The RFC 3261 timer values (17.1.1.1, table 4), passed in, never global."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SipTimers:
    """T1 (RTT estimate), T2 (cap for non-INVITE retransmissions), T4 (how long a message lives)."""

    t1: float = 0.5
    t2: float = 4.0
    t4: float = 5.0

    @property
    def timeout(self) -> float:
        """Timers B, F, H and J: 64*T1."""
        return 64 * self.t1
