"""One UDP port for the RTP of many calls: sent and read in batches, one system call a batch.

A socket per call costs the kernel a system call per packet each way, and on this project's
measurements that is most of what a call's media costs (docs/PERFORMANCE.md). `SharedRtpPort` is one
socket (and the next port for RTCP) that every stream of the process opened with `shared=True`
sends from and receives on. The media clock queues each slot's packets here and `flush` hands them
to the kernel with one `sendmmsg`; `readable` takes up to 64 datagrams with each `recvmmsg` (eight
of them at most a slot). Both are Linux system calls, behind `DatagramBatches` (batch_io.py);
elsewhere the port sends and reads a packet at a time, with the same demultiplexing.

An SDP answer tells each stream where its peer sends from, so an incoming packet belongs to the
stream whose remote address it came from; where the peer's SDP announced its SSRC (RFC 5576
a=ssrc), only packets of that SSRC (or the stream's own, echoed back). Several streams can share
one remote address (a media server that answers every call on one port, an echo, or calls of this
process to each other): the packet's SSRC then picks the stream, the one it was announced to, or
the one whose own SSRC it is when the packet comes back from that stream's peer. Nothing else is
guessed: a packet that matches no stream is dropped and counted (`unmatched`). These rules live in
`SsrcDemux` (telephony/rtp/demux.py); this module moves the bytes. Streams on a shared
port announce their SSRC in our SDP and draw SSRCs no other stream of the port has. Unlike a port
of its own, a shared port takes RTP only from the address the SDP named (a peer behind NAT whose SDP
names its private address is not heard).
"""

from __future__ import annotations

import asyncio
import logging
import socket
import struct
from collections.abc import Callable
from typing import Protocol

from callgate.telephony.aio.batch_io import (
    SEND_CAPACITY,
    DatagramBatches,
    Key,
    key_of,
    key_of_address,
    open_batches,
    sockaddr,
)
from callgate.telephony.aio.udp import bound_pair
from callgate.telephony.rtp.demux import SsrcDemux

__all__ = ["SEND_CAPACITY", "Key", "SharedRtpPort", "SharedStream", "key_of", "sockaddr"]

log = logging.getLogger(__name__)

_FIXED = struct.Struct("!BBHII")  # the RTP fixed header
_SSRC = struct.Struct("!I")
_RECV_BUFFER = 4 * 1024 * 1024  # a shared socket holds every call's packets between two reads


class _Counts(Protocol):
    packets_sent: int
    octets_sent: int
    send_errors: int


class SharedStream(Protocol):
    """What the port needs of a stream that uses it (media.py's `RtpStream`)."""

    @property
    def ssrc(self) -> int: ...

    @property
    def payload_type(self) -> int: ...

    @property
    def stats(self) -> _Counts: ...

    def new_ssrc(self) -> None: ...

    def audio_received(self, seq: int, timestamp: int, ssrc: int, payload: bytes, arrival: float) -> None: ...

    def datagram_received(self, data: bytes) -> None: ...

    def rtcp_received(self, data: bytes) -> None: ...


class SharedRtpPort:
    """The RTP socket (and the RTCP socket on the next port) that shared streams use; see the module."""

    def __init__(
        self,
        rtp: socket.socket,
        rtcp: _SharedRtcp,
        monotonic: Callable[[], float],
        io: DatagramBatches | None = None,
    ) -> None:
        self.sock = rtp
        self.family = socket.AddressFamily(rtp.family)
        self.rtcp = rtcp
        rtcp.port = self
        self.monotonic = monotonic  # the clock a datagram's arrival is read from
        self.unmatched = 0  # datagrams that are no stream's (or whose stream cannot be told)
        self.io = io if io is not None else open_batches(rtp)
        self.batched = self.io.batched
        self._streams: set[SharedStream] = set()
        own_rtcp = (self.address[0], self.address[1] + 1)
        self._own_key = key_of_address(self.family, *self.address)
        self._demux: SsrcDemux[SharedStream] = SsrcDemux(
            self._own_key, key_of_address(self.family, *own_rtcp)
        )
        self._closed = False
        self._owners: list[SharedStream] = []  # whose each queued packet is (the packets are in `io`)
        self._skip: set[int] = set()  # queued packets of streams closed before the flush

    @classmethod
    async def open(
        cls, family: socket.AddressFamily, host: str, monotonic: Callable[[], float]
    ) -> SharedRtpPort:
        """A shared port pair on `host`: RTP on an even port, RTCP on the next one."""
        rtp, rtcp = bound_pair(family, host)
        for option in (getattr(socket, "SO_RCVBUFFORCE", None), socket.SO_RCVBUF):
            if option is None:
                continue
            try:  # one socket holds every call's packets between two reads (2 ms, more after a stall)
                rtp.setsockopt(socket.SOL_SOCKET, option, _RECV_BUFFER)
                break
            except OSError:
                continue  # SO_RCVBUFFORCE needs CAP_NET_ADMIN; SO_RCVBUF is capped by rmem_max
        protocol = _SharedRtcp()
        try:
            await asyncio.get_running_loop().create_datagram_endpoint(lambda: protocol, sock=rtcp)
        except BaseException:
            rtp.close()
            rtcp.close()
            raise
        return cls(rtp, protocol, monotonic)

    @property
    def address(self) -> tuple[str, int]:
        host, port = self.sock.getsockname()[:2]
        return host, port

    def __len__(self) -> int:
        return len(self._streams)

    @property
    def closed(self) -> bool:
        return self._closed

    # the streams

    def attach(self, stream: SharedStream) -> None:
        """A stream joins the port (before its SDP is made): its SSRC is drawn again while another
        stream of the port has it, since echoes find their stream by it."""
        while self._demux.ssrc_taken(stream.ssrc):
            stream.new_ssrc()
        self._streams.add(stream)
        self._demux.attach(stream, stream.ssrc)

    def route(
        self, stream: SharedStream, remote: tuple[str, int], remote_ssrc: int | None = None
    ) -> bytes | None:
        """Take RTP from `remote` for `stream` from now on (and RTCP from the next port), and the SSRC
        `remote_ssrc` from there whoever else shares the address (the peer's SDP announced it);
        returns the sockaddr to send to, or None when `remote` is not an address of this port's
        family."""
        self._demux.unroute(stream)
        name = sockaddr(self.family, remote[0], remote[1])
        rtcp_name = sockaddr(self.family, remote[0], (remote[1] + 1) & 0xFFFF)
        if name is None or rtcp_name is None:
            return None
        self._demux.route(stream, key_of(self.family, name), key_of(self.family, rtcp_name), remote_ssrc)
        return name

    def detach(self, stream: SharedStream) -> None:
        self._streams.discard(stream)
        self._demux.detach(stream, stream.ssrc)
        for i, owner in enumerate(self._owners):  # its queued packets are not sent
            if owner is stream:
                self._skip.add(i)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.sock.close()
        if self.rtcp.transport is not None:
            self.rtcp.transport.close()

    # sending: queued by the streams' ticks, sent by the clock once a slot

    @property
    def queued(self) -> int:
        return len(self._owners)

    def queue(self, stream: SharedStream, name: bytes, second: int, seq: int, timestamp: int,
              payload: bytes) -> None:  # fmt: skip
        """Queue one RTP packet of `stream`, to the sockaddr `name`, for the next `flush`."""
        owners = self._owners
        if len(owners) == self.io.capacity:
            self.flush()
        try:
            queued = self.io.queue(name, second, seq, timestamp, stream.ssrc, payload)
        except OSError as exc:
            self._lost(stream, len(payload), exc)
            return
        if queued:
            owners.append(stream)

    def flush(self) -> None:
        """Send what is queued: one system call where there are batch calls (another after a message
        the kernel refused)."""
        owners, skip = self._owners, self._skip
        if not owners:
            return
        if self._closed:
            self.io.discard()
        else:
            for i, size, exc in self.io.flush(skip):  # a refused packet is lost, as on the wire
                self._lost(owners[i], size, exc)
        owners.clear()
        skip.clear()

    @staticmethod
    def _lost(stream: SharedStream, payload_size: int, exc: OSError) -> None:
        """A queued packet the kernel refused: counted as an error, not as sent (RFC 3550's sender
        report counts what left)."""
        stream.stats.packets_sent -= 1
        stream.stats.octets_sent -= payload_size
        stream.stats.send_errors += 1
        log.debug("RTP send failed: %s", exc)

    # receiving: the clock's call when the socket holds datagrams

    def readable(self) -> None:
        """Read the datagrams the socket holds (a bounded number: a flood must not keep the clock from
        its ticks), and hand each to its stream."""
        dropped = self.io.receive(self._received, self.monotonic)  # (`_received` counts the rest)
        self.unmatched += dropped

    def _received(self, key: Key, data: bytes | memoryview, start: int, length: int, arrival: float) -> None:
        if length < 12:  # too short for RTP: its call counts it, if it is from a peer
            stream = self._demux.rtp(key, None)
            if stream is None:
                self.unmatched += 1
            else:
                stream.datagram_received(bytes(data[start : start + length]))
            return
        first, second, seq, timestamp, ssrc = _FIXED.unpack_from(data, start)
        stream = self._demux.rtp(key, ssrc)
        if stream is None:
            self.unmatched += 1
        elif first == 0x80 and second == stream.payload_type and length > 12:
            # The common case, a plain audio packet: its header is already read.
            stream.audio_received(seq, timestamp, ssrc, bytes(data[start + 12 : start + length]), arrival)
        else:
            stream.datagram_received(bytes(data[start : start + length]))

    def deliver_rtcp(self, addr: tuple[str, int], data: bytes) -> None:
        """An RTCP packet from `addr`: to the stream whose peer sends RTCP from there, by the same
        rules as RTP with the SSRC of the first report's sender."""
        key = key_of_address(self.family, addr[0], addr[1])
        sender = _SSRC.unpack_from(data, 4)[0] if len(data) >= 8 else None
        stream = self._demux.rtcp(key, sender) if key is not None else None
        if stream is None:
            self.rtcp.unmatched += 1
            return
        stream.rtcp_received(data)


class _SharedRtcp(asyncio.DatagramProtocol):
    """The RTCP socket beside a shared RTP port: each report goes to the stream it is from."""

    def __init__(self) -> None:
        self.port: SharedRtpPort | None = None
        self.transport: asyncio.DatagramTransport | None = None
        self.unmatched = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        if self.port is not None:
            self.port.deliver_rtcp(addr, data)
