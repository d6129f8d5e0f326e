"""RTP/RTCP errors: a packet we cannot accept says precisely why (as the SIP layer's do)."""

from __future__ import annotations


class PacketError(ValueError):
    """A malformed RTP or RTCP packet. `reason` is the precise cause, for logs and counters."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
