"""One UDP port for the RTP of many calls: sent and read in batches, one system call a batch.

A socket per call costs the kernel a system call per packet each way, and on this project's
measurements that is most of what a call's media costs (docs/PERFORMANCE.md). `SharedRtpPort` is one
socket (and the next port for RTCP) that every stream of the process opened with `shared=True`
sends from and receives on. The media clock queues each slot's packets here and `flush` hands them
to the kernel with one `sendmmsg`; `readable` takes up to 64 datagrams with each `recvmmsg` (eight
of them at most a slot). Both are Linux system calls that Python's socket module does not offer;
they are called through ctypes. Elsewhere the port sends and reads a packet at a time, with the
same demultiplexing.

An SDP answer tells each stream where its peer sends from, so an incoming packet belongs to the
stream whose remote address it came from; where the peer's SDP announced its SSRC (RFC 5576
a=ssrc), only packets of that SSRC (or the stream's own, echoed back). Several streams can share
one remote address (a media server that answers every call on one port, an echo, or calls of this
process to each other): the packet's SSRC then picks the stream, the one it was announced to, or
the one whose own SSRC it is when the packet comes back from that stream's peer. Nothing else is
guessed: a packet that matches no stream is dropped and counted (`unmatched`). Streams on a shared
port announce their SSRC in our SDP and draw SSRCs no other stream of the port has. Unlike a port
of its own, a shared port takes RTP only from the address the SDP named (a peer behind NAT whose SDP
names its private address is not heard).
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import errno
import ipaddress
import logging
import os
import socket
import struct
import sys
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from callgate.telephony.aio.media import RtpStream

log = logging.getLogger(__name__)

_FIXED = struct.Struct("!BBHII")  # the RTP fixed header
_AUDIO = struct.Struct("!BBHII160s")  # the header and 20 ms of G.711
_SSRC = struct.Struct("!I")
_monotonic = time.monotonic
_SLOT = 256  # bytes a queued packet may take: a header and 20 ms of G.711 (172) or an event (16)
_NAME = 32  # bytes kept for a sockaddr (sockaddr_in6 is 28)
_SEND_CAPACITY = 1024  # packets queued before a flush is forced
_RECV_BATCH = 64  # datagrams a recvmmsg takes
_RECV_BATCHES = 8  # recvmmsg calls a read makes at most (the rest waits for the next slot, 2 ms)
_RECV_SIZE = 2048  # bytes kept of a datagram (RTP of 20 ms G.711 is 172)
_MSG_DONTWAIT = 0x40
_MSG_TRUNC = 0x20
_RECV_BUFFER = 4 * 1024 * 1024  # a shared socket holds every call's packets between two reads


class _IoVec(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]


class _MsgHdr(ctypes.Structure):
    _fields_ = [
        ("name", ctypes.c_void_p),
        ("namelen", ctypes.c_uint32),
        ("iov", ctypes.c_void_p),
        ("iovlen", ctypes.c_size_t),
        ("control", ctypes.c_void_p),
        ("controllen", ctypes.c_size_t),
        ("flags", ctypes.c_int),
    ]


class _MMsgHdr(ctypes.Structure):
    _fields_ = [("hdr", _MsgHdr), ("len", ctypes.c_uint)]


class _Messages:
    """`count` messages for sendmmsg/recvmmsg, each with one iovec over its `size` bytes of `data`
    and its own room in `names` for the address. The address length is set once: for UDP the kernel
    writes back the length of a sockaddr of the socket's family."""

    def __init__(self, count: int, size: int, namelen: int) -> None:
        self.data = (ctypes.c_char * (count * size))()
        self.names = (ctypes.c_char * (count * _NAME))()
        self.iov = (_IoVec * count)()
        self.msgs = (_MMsgHdr * count)()
        data, names = ctypes.addressof(self.data), ctypes.addressof(self.names)
        iov = ctypes.addressof(self.iov)
        for i in range(count):
            self.iov[i].base, self.iov[i].len = data + i * size, size
            msg = self.msgs[i].hdr
            msg.name, msg.namelen = names + i * _NAME, namelen
            msg.iov, msg.iovlen = iov + i * ctypes.sizeof(_IoVec), 1


def _libc_batch_calls() -> tuple[Any, Any] | None:
    """libc's sendmmsg and recvmmsg (Linux), or None where there are none."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)  # the process's own C library (glibc or musl)
        sendmmsg, recvmmsg = libc.sendmmsg, libc.recvmmsg
    except (OSError, AttributeError):
        return None
    sendmmsg.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_uint, ctypes.c_int]
    sendmmsg.restype = ctypes.c_int
    recvmmsg.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_uint, ctypes.c_int, ctypes.c_void_p]
    recvmmsg.restype = ctypes.c_int
    return sendmmsg, recvmmsg


_BATCH_CALLS = _libc_batch_calls()

# A remote transport address as the demultiplexing key: the first 8 bytes of its sockaddr (family,
# port, IPv4 address) as an integer, or for IPv6 the first 24 (family, port, flow label, address) as
# three. Read straight from the buffer recvmmsg fills, without making a bytes object.
Key = int | tuple[int, int, int]
_Q = struct.Struct("=Q")


def sockaddr(family: socket.AddressFamily, host: str, port: int) -> bytes | None:
    """The sockaddr_in (sockaddr_in6 for AF_INET6) of an address literal; None for a name or an
    address of the other family (an IPv4 address is mapped for a dual-stack IPv6 socket)."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None
    if family == socket.AF_INET6 and address.version == 4:
        address = ipaddress.IPv6Address(f"::ffff:{address}")
    if (address.version == 6) != (family == socket.AF_INET6):
        return None
    if family == socket.AF_INET6:
        return struct.pack("=H", family) + struct.pack("!H", port) + bytes(4) + address.packed + bytes(4)
    return struct.pack("=H", family) + struct.pack("!H", port) + address.packed + bytes(8)


def key_of(family: socket.AddressFamily, name: bytes) -> Key:
    if family == socket.AF_INET6:
        return (_Q.unpack_from(name, 0)[0], _Q.unpack_from(name, 8)[0], _Q.unpack_from(name, 16)[0])
    return int(_Q.unpack_from(name, 0)[0])


def _key_of_address(family: socket.AddressFamily, host: str, port: int) -> Key | None:
    name = sockaddr(family, host, port)
    return key_of(family, name) if name is not None else None


def _address_of(family: socket.AddressFamily, name: bytes) -> tuple[str, int]:
    port = struct.unpack_from("!H", name, 2)[0]
    if family == socket.AF_INET6:
        return socket.inet_ntop(socket.AF_INET6, name[8:24]), port
    return socket.inet_ntop(socket.AF_INET, name[4:8]), port


class SharedRtpPort:
    """The RTP socket (and the RTCP socket on the next port) that shared streams use; see the module."""

    def __init__(self, rtp: socket.socket, rtcp: _SharedRtcp) -> None:
        self.sock = rtp
        self.family = socket.AddressFamily(rtp.family)
        self.rtcp = rtcp
        rtcp.port = self
        self.unmatched = 0  # datagrams that are no stream's (or whose stream cannot be told)
        self.batched = _BATCH_CALLS is not None
        self._streams: set[RtpStream] = set()
        self._by_remote: dict[Key, list[RtpStream]] = {}  # the streams whose peer sends from there
        self._alone: dict[Key, RtpStream] = {}  # the same, for an address only one stream has
        self._remote_of: dict[RtpStream, Key] = {}
        self._by_rtcp: dict[Key, list[RtpStream]] = {}
        self._rtcp_of: dict[RtpStream, Key] = {}
        self._by_own_ssrc: dict[int, RtpStream] = {}
        # (remote RTP address, SSRC its SDP announced) -> the stream, and the same for RTCP addresses
        self._announced: dict[tuple[Key, int], RtpStream] = {}
        self._announced_rtcp: dict[tuple[Key, int], RtpStream] = {}
        name = sockaddr(self.family, *self.address)
        self._own_key = key_of(self.family, name) if name is not None else None
        rtcp_name = sockaddr(self.family, self.address[0], self.address[1] + 1)
        self._own_rtcp_key = key_of(self.family, rtcp_name) if rtcp_name is not None else None
        self._closed = False
        # what is queued for the next flush: whose each packet is; the packets themselves are in the
        # send buffers (or in `_unbatched` without sendmmsg)
        self._owners: list[RtpStream] = []
        self._unbatched: list[tuple[bytes, bytes]] = []
        self._skip: set[int] = set()  # queued packets of streams closed before the flush
        if self.batched:
            self._setup_buffers()

    @classmethod
    async def open(cls, family: socket.AddressFamily, host: str) -> SharedRtpPort:
        """A shared port pair on `host`: RTP on an even port, RTCP on the next one."""
        from callgate.telephony.aio.media import bound_pair  # the same port choice as a stream's own

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
        return cls(rtp, protocol)

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

    def attach(self, stream: RtpStream) -> None:
        """A stream joins the port (before its SDP is made): its SSRC is drawn again while another
        stream of the port has it, since echoes find their stream by it."""
        while stream.ssrc in self._by_own_ssrc:
            stream.new_ssrc()
        self._streams.add(stream)
        self._by_own_ssrc[stream.ssrc] = stream

    def route(
        self, stream: RtpStream, remote: tuple[str, int], remote_ssrc: int | None = None
    ) -> bytes | None:
        """Take RTP from `remote` for `stream` from now on (and RTCP from the next port), and the SSRC
        `remote_ssrc` from there whoever else shares the address (the peer's SDP announced it);
        returns the sockaddr to send to, or None when `remote` is not an address of this port's
        family."""
        self._unroute(stream)
        name = sockaddr(self.family, remote[0], remote[1])
        rtcp_name = sockaddr(self.family, remote[0], (remote[1] + 1) & 0xFFFF)
        if name is None or rtcp_name is None:
            return None
        key, rtcp_key = key_of(self.family, name), key_of(self.family, rtcp_name)
        self._remote_of[stream] = key
        self._by_remote.setdefault(key, []).append(stream)
        self._rtcp_of[stream] = rtcp_key
        self._by_rtcp.setdefault(rtcp_key, []).append(stream)
        self._set_alone(key)
        stream._announced_ssrc = remote_ssrc
        if remote_ssrc is not None:
            self._announced[(key, remote_ssrc)] = stream
            self._announced_rtcp[(rtcp_key, remote_ssrc)] = stream
        return name

    def _set_alone(self, key: Key) -> None:
        sharing = self._by_remote.get(key)
        if sharing is not None and len(sharing) == 1:
            self._alone[key] = sharing[0]
        else:
            self._alone.pop(key, None)

    def _unroute(self, stream: RtpStream) -> None:
        key, rtcp_key = self._remote_of.pop(stream, None), self._rtcp_of.pop(stream, None)
        for old, by in ((key, self._by_remote), (rtcp_key, self._by_rtcp)):
            if old is not None:
                sharing = by[old]
                sharing.remove(stream)
                if not sharing:
                    del by[old]
        if key is not None:
            self._set_alone(key)
        announced, stream._announced_ssrc = stream._announced_ssrc, None
        if announced is not None:
            for table, old in ((self._announced, key), (self._announced_rtcp, rtcp_key)):
                if old is not None and table.get((old, announced)) is stream:
                    del table[(old, announced)]

    def detach(self, stream: RtpStream) -> None:
        self._unroute(stream)
        self._streams.discard(stream)
        if self._by_own_ssrc.get(stream.ssrc) is stream:
            del self._by_own_ssrc[stream.ssrc]
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

    def _setup_buffers(self) -> None:
        namelen = 28 if self.family == socket.AF_INET6 else 16
        out = self._out = _Messages(_SEND_CAPACITY, _SLOT, namelen)
        self._send_view = memoryview(out.data).cast("B")
        self._send_name_view = memoryview(out.names).cast("B")
        self._names_at: list[bytes | None] = [None] * _SEND_CAPACITY  # the sockaddr each message holds
        self._sizes_at: list[int] = [-1] * _SEND_CAPACITY  # and its payload's size
        # the iovec lengths, as size_t (they follow the base pointers)
        size_t = ctypes.sizeof(ctypes.c_size_t)
        self._send_lengths = memoryview(out.iov).cast("B").cast("Q" if size_t == 8 else "I")
        self._length_at = (_IoVec.len.offset // size_t, ctypes.sizeof(_IoVec) // size_t)

        into = self._in = _Messages(_RECV_BATCH, _RECV_SIZE, namelen)
        self._recv_view = memoryview(into.data).cast("B")
        self._recv_name_words = memoryview(into.names).cast("B").cast("Q")
        self._recv_msg_words = memoryview(into.msgs).cast("B").cast("I")
        word = ctypes.sizeof(ctypes.c_uint)
        self._msg_stride = ctypes.sizeof(_MMsgHdr) // word
        self._len_word = _MMsgHdr.len.offset // word
        self._flags_word = (_MMsgHdr.hdr.offset + _MsgHdr.flags.offset) // word

    @property
    def queued(self) -> int:
        return len(self._owners)

    def queue(self, stream: RtpStream, name: bytes, second: int, seq: int, timestamp: int,
              payload: bytes) -> None:  # fmt: skip
        """Queue one RTP packet of `stream`, to the sockaddr `name`, for the next `flush`."""
        owners = self._owners
        if not self.batched:
            self._unbatched.append((name, _FIXED.pack(0x80, second, seq, timestamp, stream.ssrc) + payload))
            owners.append(stream)
            return
        if len(payload) > _SLOT - 12:  # not 20 ms of G.711 or an event: sent on its own, now
            try:
                self.sock.sendto(
                    _FIXED.pack(0x80, second, seq, timestamp, stream.ssrc) + payload,
                    _address_of(self.family, name),
                )
            except OSError as exc:
                self._lost(stream, len(payload), exc)
            return
        i = len(owners)
        if i == _SEND_CAPACITY:
            self.flush()
            i = 0
        at, size = i * _SLOT, len(payload)
        if size == 160:  # 20 ms of G.711: header and payload in one go
            _AUDIO.pack_into(self._send_view, at, 0x80, second, seq, timestamp, stream.ssrc, payload)
        else:
            _FIXED.pack_into(self._send_view, at, 0x80, second, seq, timestamp, stream.ssrc)
            self._send_view[at + 12 : at + 12 + size] = payload
        # A slot's streams queue in the same order each time: a message's address and length seldom
        # change, and are written only when they do.
        if self._names_at[i] is not name:
            self._send_name_view[i * _NAME : i * _NAME + len(name)] = name
            self._names_at[i] = name
        if self._sizes_at[i] != size:
            first, stride = self._length_at
            self._send_lengths[i * stride + first] = 12 + size
            self._sizes_at[i] = size
        owners.append(stream)

    def flush(self) -> None:
        """Send what is queued: one sendmmsg (another after a message the kernel refused)."""
        owners, skip = self._owners, self._skip
        if not owners:
            return
        if self._closed:
            owners.clear()
            self._unbatched.clear()
            skip.clear()
            return
        if not self.batched:
            self._flush_one_by_one()
            return
        assert _BATCH_CALLS is not None
        sendmmsg = _BATCH_CALLS[0]
        fd, base, size = self.sock.fileno(), ctypes.addressof(self._out.msgs), ctypes.sizeof(_MMsgHdr)
        n, i = len(owners), 0
        while i < n:
            if i in skip:
                i += 1
                continue
            end = i + 1
            while end < n and end not in skip:
                end += 1
            sent = sendmmsg(fd, base + i * size, end - i, 0)
            if sent <= 0:  # message i was refused: it is lost, as on the wire; the rest go on
                code = ctypes.get_errno()
                self._lost(owners[i], self._sizes_at[i], OSError(code, os.strerror(code)))
                i += 1
            else:
                i += sent
        owners.clear()
        skip.clear()

    def _flush_one_by_one(self) -> None:
        owners, unbatched, skip = self._owners, self._unbatched, self._skip
        sendto, family = self.sock.sendto, self.family
        for i, (stream, (name, packet)) in enumerate(zip(owners, unbatched, strict=True)):
            if i in skip:
                continue
            try:
                sendto(packet, _address_of(family, name))
            except OSError as exc:
                self._lost(stream, len(packet) - 12, exc)
        owners.clear()
        unbatched.clear()
        skip.clear()

    @staticmethod
    def _lost(stream: RtpStream, payload_size: int, exc: OSError) -> None:
        """A queued packet the kernel refused: counted as an error, not as sent (RFC 3550's sender
        report counts what left)."""
        stream.stats.packets_sent -= 1
        stream.stats.octets_sent -= payload_size
        stream.stats.send_errors += 1
        log.debug("RTP send failed: %s", exc)

    # receiving: the clock's call when the socket holds datagrams

    def readable(self) -> None:
        """Read the datagrams the socket holds, a batch a system call (at most `_RECV_BATCHES` batches:
        a flood must not keep the clock from its ticks), and hand each to its stream."""
        if not self.batched:
            self._read_one_by_one()
            return
        assert _BATCH_CALLS is not None
        recvmmsg = _BATCH_CALLS[1]
        fd, base = self.sock.fileno(), ctypes.addressof(self._in.msgs)
        words, names, data = self._recv_msg_words, self._recv_name_words, self._recv_view
        stride, len_word, flags_word = self._msg_stride, self._len_word, self._flags_word
        alone, announced, v6 = self._alone, self._announced, self.family == socket.AF_INET6
        by_own_ssrc, remote_of, own_key = self._by_own_ssrc, self._remote_of, self._own_key
        header = _FIXED.unpack_from
        for _ in range(_RECV_BATCHES):
            got = recvmmsg(fd, base, _RECV_BATCH, _MSG_DONTWAIT, None)
            if got <= 0:
                if got < 0:
                    code = ctypes.get_errno()
                    if code not in (errno.EAGAIN, errno.EWOULDBLOCK, errno.EINTR):
                        log.debug("RTP socket error: %s", os.strerror(code))
                return
            now = _monotonic()  # the batch's arrival, for the jitter (read within one slot anyway)
            for i in range(got):
                length = words[i * stride + len_word]
                if length >= _RECV_SIZE and words[i * stride + flags_word] & _MSG_TRUNC:
                    self.unmatched += 1  # too long to be RTP audio
                    continue
                at = i * 4  # 32 bytes a name, 8 a word
                key: Key = (names[at], names[at + 1], names[at + 2]) if v6 else names[at]
                start = i * _RECV_SIZE
                if length < 12:  # too short for RTP: its call counts it, if it is from a peer
                    self._deliver(key, data[start : start + length].tobytes())
                    continue
                first, second, seq, timestamp, ssrc = header(data, start)
                stream = alone.get(key)
                if stream is None or (stream._announced_ssrc not in (None, ssrc)):
                    # `stream_for`'s rules, inline: the SSRC announced from there, else an echo
                    stream = announced.get((key, ssrc))
                    if stream is None:
                        stream = by_own_ssrc.get(ssrc)
                        if stream is None or key == own_key or remote_of.get(stream) != key:
                            self.unmatched += 1
                            continue
                if first == 0x80 and second == stream.payload_type and length > 12:
                    # The common case, a plain audio packet: its header is already read.
                    stream.audio_received(
                        seq, timestamp, ssrc, data[start + 12 : start + length].tobytes(), now
                    )
                else:
                    stream.datagram_received(data[start : start + length].tobytes())
            if got < _RECV_BATCH:
                return

    def _read_one_by_one(self) -> None:
        recvfrom, family = self.sock.recvfrom, self.family
        for _ in range(_RECV_BATCH):
            try:
                data, addr = recvfrom(_RECV_SIZE)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                log.debug("RTP socket error: %s", exc)
                return
            key = _key_of_address(family, addr[0], addr[1])
            if key is None:
                self.unmatched += 1
            else:
                self._deliver(key, data)

    def stream_for(self, key: Key, data: bytes) -> RtpStream | None:
        """The stream a datagram from `key` is for, or None when that cannot be told (see the module):
        the one stream whose peer sends from there (when its SDP announced an SSRC, only with that
        SSRC or its own coming back); else the stream that SSRC was announced to; else the stream
        whose own SSRC comes back from its peer (an echo). A stream's own SSRC from this port's own
        address (calls of the process to each other) is not an echo."""
        ssrc = _SSRC.unpack_from(data, 8)[0] if len(data) >= 12 else None
        stream = self._alone.get(key)
        if ssrc is None:  # too short for RTP: the call whose peer sends from there counts it
            return stream
        if stream is not None and stream._announced_ssrc in (None, ssrc):
            return stream
        stream = self._announced.get((key, ssrc))
        if stream is not None:
            return stream
        own = self._by_own_ssrc.get(ssrc)
        if own is not None and key != self._own_key and self._remote_of.get(own) == key:
            return own
        return None

    def _deliver(self, key: Key, data: bytes) -> None:
        stream = self.stream_for(key, data)
        if stream is None:
            self.unmatched += 1
            return
        stream.datagram_received(data)

    def deliver_rtcp(self, addr: tuple[str, int], data: bytes) -> None:
        """An RTCP packet from `addr`: to the stream whose peer sends RTCP from there, by the same
        rules as RTP with the SSRC of the first report's sender."""
        key = _key_of_address(self.family, addr[0], addr[1])
        sharing = self._by_rtcp.get(key) if key is not None else None
        stream = None
        if sharing is not None and key is not None:
            sender = _SSRC.unpack_from(data, 4)[0] if len(data) >= 8 else None
            if len(sharing) == 1 and sharing[0]._announced_ssrc in (None, sender):
                stream = sharing[0]
            elif sender is not None:
                stream = self._announced_rtcp.get((key, sender))
                own = self._by_own_ssrc.get(sender)
                if stream is None and own is not None and key != self._own_rtcp_key and own in sharing:
                    stream = own  # our own report, echoed back
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
