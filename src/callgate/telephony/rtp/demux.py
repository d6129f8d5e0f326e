"""Which call a datagram on a shared RTP port is for: the rules, without a socket.

Theory of operation. Many calls' RTP arrive on one port; each call (a "stream", any hashable object
here) is routed to the transport address its peer's SDP named, and may know the SSRC that SDP
announced (RFC 5576 a=ssrc). A remote address is a `Key`: whatever hashable value the socket layer
makes of it (aio/rtp_port.py uses the sockaddr's bytes as integers).

- One stream routed to the address: the datagram is that stream's; where its peer announced an SSRC,
  only with that SSRC (or too short to carry one: the call counts its peer's garbage).
- Otherwise the stream the packet's SSRC was announced to from that address.
- Otherwise an echo: the stream whose own SSRC comes back from the address it is routed to; not from
  the port's own address (calls of the process to each other are not echoes of themselves).
- Otherwise nobody's: nothing is guessed.

RTCP follows the same rules with the RTCP addresses (the RTP port + 1) and the SSRC of the first
report's sender. A stream's own SSRC is unique on the port (`ssrc_taken`), since echoes find their
stream by it.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Generic, TypeVar

S = TypeVar("S")  # a stream: any object hashed by identity
Key = Hashable


class SsrcDemux(Generic[S]):
    """The routing tables of one shared port; see the module."""

    def __init__(self, own_key: Key | None, own_rtcp_key: Key | None) -> None:
        self._own_key = own_key  # the port's own RTP address, and its RTCP address
        self._own_rtcp_key = own_rtcp_key
        self._by_remote: dict[Key, list[S]] = {}  # the streams whose peer sends from there
        self._alone: dict[Key, S] = {}  # the same, for an address only one stream has
        self._remote_of: dict[S, Key] = {}
        self._by_rtcp: dict[Key, list[S]] = {}
        self._rtcp_of: dict[S, Key] = {}
        self._by_own_ssrc: dict[int, S] = {}
        self._announced_of: dict[S, int] = {}  # the SSRC a stream's peer announced
        # (remote RTP address, SSRC its SDP announced) -> the stream, and the same for RTCP addresses
        self._announced: dict[tuple[Key, int], S] = {}
        self._announced_rtcp: dict[tuple[Key, int], S] = {}

    # the streams

    def ssrc_taken(self, ssrc: int) -> bool:
        return ssrc in self._by_own_ssrc

    def attach(self, stream: S, ssrc: int) -> None:
        """`stream` sends as `ssrc` (one `ssrc_taken` said is free)."""
        self._by_own_ssrc[ssrc] = stream

    def route(self, stream: S, key: Key, rtcp_key: Key, announced: int | None) -> None:
        """Take RTP from `key` and RTCP from `rtcp_key` for `stream` from now on, and the SSRC
        `announced` from there whoever else shares the address."""
        self.unroute(stream)
        self._remote_of[stream] = key
        self._by_remote.setdefault(key, []).append(stream)
        self._rtcp_of[stream] = rtcp_key
        self._by_rtcp.setdefault(rtcp_key, []).append(stream)
        self._set_alone(key)
        if announced is not None:
            self._announced_of[stream] = announced
            self._announced[(key, announced)] = stream
            self._announced_rtcp[(rtcp_key, announced)] = stream

    def unroute(self, stream: S) -> None:
        key, rtcp_key = self._remote_of.pop(stream, None), self._rtcp_of.pop(stream, None)
        for old, by in ((key, self._by_remote), (rtcp_key, self._by_rtcp)):
            if old is not None:
                sharing = by[old]
                sharing.remove(stream)
                if not sharing:
                    del by[old]
        if key is not None:
            self._set_alone(key)
        announced = self._announced_of.pop(stream, None)
        if announced is not None:
            for table, old in ((self._announced, key), (self._announced_rtcp, rtcp_key)):
                if old is not None and table.get((old, announced)) is stream:
                    del table[(old, announced)]

    def detach(self, stream: S, ssrc: int) -> None:
        """`stream` (sending as `ssrc`) leaves the port."""
        self.unroute(stream)
        if self._by_own_ssrc.get(ssrc) is stream:
            del self._by_own_ssrc[ssrc]

    def _set_alone(self, key: Key) -> None:
        sharing = self._by_remote.get(key)
        if sharing is not None and len(sharing) == 1:
            self._alone[key] = sharing[0]
        else:
            self._alone.pop(key, None)

    # the datagrams

    def rtp(self, key: Key, ssrc: int | None) -> S | None:
        """The stream an RTP datagram from `key` with `ssrc` (None: too short to carry one) is for."""
        stream = self._alone.get(key)
        if ssrc is None:
            return stream
        if stream is not None and self._announced_of.get(stream) in (None, ssrc):
            return stream
        stream = self._announced.get((key, ssrc))
        if stream is not None:
            return stream
        own = self._by_own_ssrc.get(ssrc)
        if own is not None and key != self._own_key and self._remote_of.get(own) == key:
            return own
        return None

    def rtcp(self, key: Key, sender: int | None) -> S | None:
        """The stream an RTCP packet from `key`, whose first report is `sender`'s, is for."""
        sharing = self._by_rtcp.get(key)
        if sharing is None:
            return None
        if len(sharing) == 1 and self._announced_of.get(sharing[0]) in (None, sender):
            return sharing[0]
        if sender is None:
            return None
        stream = self._announced_rtcp.get((key, sender))
        if stream is not None:
            return stream
        own = self._by_own_ssrc.get(sender)
        if own is not None and key != self._own_rtcp_key and own in sharing:
            return own  # our own report, echoed back
        return None
