"""A shared RTP port's datagrams, sent and read in batches: `sendmmsg`/`recvmmsg`, or one at a time.

`DatagramBatches` is what the shared port (rtp_port.py) asks of its socket: queue an RTP packet for
the slot's flush, flush them, read what arrived. `MmsgBatches` hands a slot's packets to the kernel
with one `sendmmsg` and takes up to 64 datagrams with each `recvmmsg` (eight of them at most a
read): Linux system calls that Python's socket module does not offer, called through ctypes on
buffers made once. `PlainBatches` does the same with `sendto`/`recvfrom`, a packet a call, where
those are missing. `open_batches` picks.

A remote transport address is read as a demultiplexing key (`Key`): the first 8 bytes of its
sockaddr (family, port, IPv4 address) as an integer, or for IPv6 the first 24 (family, port, flow
label, address) as three; straight from the buffer recvmmsg fills, without making a bytes object.
"""

from __future__ import annotations

import ctypes
import errno
import ipaddress
import logging
import os
import socket
import struct
import sys
from collections.abc import Callable, Container
from typing import Any, Protocol

log = logging.getLogger(__name__)

_FIXED = struct.Struct("!BBHII")  # the RTP fixed header
_AUDIO = struct.Struct("!BBHII160s")  # the header and 20 ms of G.711
SLOT = 256  # bytes a queued packet may take: a header and 20 ms of G.711 (172) or an event (16)
_NAME = 32  # bytes kept for a sockaddr (sockaddr_in6 is 28)
SEND_CAPACITY = 1024  # packets queued before a flush is forced
RECV_BATCH = 64  # datagrams a recvmmsg takes
RECV_BATCHES = 8  # recvmmsg calls a read makes at most (the rest waits for the next slot, 2 ms)
RECV_SIZE = 2048  # bytes kept of a datagram (RTP of 20 ms G.711 is 172)
_MSG_DONTWAIT = 0x40
_MSG_TRUNC = 0x20

Key = int | tuple[int, int, int]
_Q = struct.Struct("=Q")

# What a read hands over for each datagram: the key of its source, a buffer holding it, where in that
# buffer it starts and how long it is, and when the batch arrived.
Handler = Callable[[Key, "bytes | memoryview", int, int, float], None]


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


def key_of_address(family: socket.AddressFamily, host: str, port: int) -> Key | None:
    name = sockaddr(family, host, port)
    return key_of(family, name) if name is not None else None


def address_of(family: socket.AddressFamily, name: bytes) -> tuple[str, int]:
    port = struct.unpack_from("!H", name, 2)[0]
    if family == socket.AF_INET6:
        return socket.inet_ntop(socket.AF_INET6, name[8:24]), port
    return socket.inet_ntop(socket.AF_INET, name[4:8]), port


class DatagramBatches(Protocol):
    """A shared port's socket, as the port sends and reads on it."""

    batched: bool  # whether a batch costs one system call (else one a packet)
    capacity: int  # packets `queue` takes before a `flush`

    def queue(self, name: bytes, second: int, seq: int, timestamp: int, ssrc: int, payload: bytes) -> bool:
        """Queue an RTP packet (its second header byte, sequence, timestamp, SSRC and payload) to the
        sockaddr `name` for the next `flush`; False when it was sent at once instead (too big for a
        queue slot). Raises OSError when that send failed."""
        ...

    def flush(self, skip: Container[int]) -> list[tuple[int, int, OSError]]:
        """Send the queued packets but those at the indices in `skip`, and empty the queue; the
        packets the kernel refused, as (index, payload size, error)."""
        ...

    def discard(self) -> None:
        """Empty the queue, sending nothing."""
        ...

    def receive(self, handle: Handler, clock: Callable[[], float]) -> int:
        """Read the datagrams the socket holds (a bounded number: a flood must not keep the clock
        from its ticks), each to `handle` with its arrival read from `clock`; the number dropped
        (too long to be RTP, or from an address that cannot be a key)."""
        ...


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


def open_batches(sock: socket.socket) -> DatagramBatches:
    """The batch calls on `sock` where the C library has them, else a packet a call."""
    if _BATCH_CALLS is not None:
        return MmsgBatches(sock, *_BATCH_CALLS)
    return PlainBatches(sock)


class MmsgBatches:
    """`DatagramBatches` with sendmmsg and recvmmsg on buffers made once."""

    batched = True
    capacity = SEND_CAPACITY

    def __init__(self, sock: socket.socket, sendmmsg: Any, recvmmsg: Any) -> None:
        self.sock = sock
        self.family = socket.AddressFamily(sock.family)
        self._sendmmsg, self._recvmmsg = sendmmsg, recvmmsg
        self._count = 0
        namelen = 28 if self.family == socket.AF_INET6 else 16
        out = self._out = _Messages(SEND_CAPACITY, SLOT, namelen)
        self._send_view = memoryview(out.data).cast("B")
        self._send_name_view = memoryview(out.names).cast("B")
        self._names_at: list[bytes | None] = [None] * SEND_CAPACITY  # the sockaddr each message holds
        self._sizes_at: list[int] = [-1] * SEND_CAPACITY  # and its payload's size
        # the iovec lengths, as size_t (they follow the base pointers)
        size_t = ctypes.sizeof(ctypes.c_size_t)
        self._send_lengths = memoryview(out.iov).cast("B").cast("Q" if size_t == 8 else "I")
        self._length_at = (_IoVec.len.offset // size_t, ctypes.sizeof(_IoVec) // size_t)

        into = self._in = _Messages(RECV_BATCH, RECV_SIZE, namelen)
        self._recv_view = memoryview(into.data).cast("B")
        self._recv_name_words = memoryview(into.names).cast("B").cast("Q")
        self._recv_msg_words = memoryview(into.msgs).cast("B").cast("I")
        word = ctypes.sizeof(ctypes.c_uint)
        self._msg_stride = ctypes.sizeof(_MMsgHdr) // word
        self._len_word = _MMsgHdr.len.offset // word
        self._flags_word = (_MMsgHdr.hdr.offset + _MsgHdr.flags.offset) // word

    def queue(self, name: bytes, second: int, seq: int, timestamp: int, ssrc: int, payload: bytes) -> bool:
        size = len(payload)
        if size > SLOT - 12:  # not 20 ms of G.711 or an event: sent on its own, now
            self.sock.sendto(
                _FIXED.pack(0x80, second, seq, timestamp, ssrc) + payload, address_of(self.family, name)
            )
            return False
        i = self._count
        at = i * SLOT
        if size == 160:  # 20 ms of G.711: header and payload in one go
            _AUDIO.pack_into(self._send_view, at, 0x80, second, seq, timestamp, ssrc, payload)
        else:
            _FIXED.pack_into(self._send_view, at, 0x80, second, seq, timestamp, ssrc)
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
        self._count = i + 1
        return True

    def flush(self, skip: Container[int]) -> list[tuple[int, int, OSError]]:
        """One sendmmsg (another after a message the kernel refused: it is lost, as on the wire)."""
        refused: list[tuple[int, int, OSError]] = []
        sendmmsg = self._sendmmsg
        fd, base, size = self.sock.fileno(), ctypes.addressof(self._out.msgs), ctypes.sizeof(_MMsgHdr)
        n, i = self._count, 0
        while i < n:
            if i in skip:
                i += 1
                continue
            end = i + 1
            while end < n and end not in skip:
                end += 1
            sent = sendmmsg(fd, base + i * size, end - i, 0)
            if sent <= 0:
                code = ctypes.get_errno()
                refused.append((i, self._sizes_at[i], OSError(code, os.strerror(code))))
                i += 1
            else:
                i += sent
        self._count = 0
        return refused

    def discard(self) -> None:
        self._count = 0

    def receive(self, handle: Handler, clock: Callable[[], float]) -> int:
        recvmmsg = self._recvmmsg
        fd, base = self.sock.fileno(), ctypes.addressof(self._in.msgs)
        words, names, data = self._recv_msg_words, self._recv_name_words, self._recv_view
        stride, len_word, flags_word = self._msg_stride, self._len_word, self._flags_word
        v6 = self.family == socket.AF_INET6
        dropped = 0
        for _ in range(RECV_BATCHES):
            got = recvmmsg(fd, base, RECV_BATCH, _MSG_DONTWAIT, None)
            if got <= 0:
                if got < 0:
                    code = ctypes.get_errno()
                    if code not in (errno.EAGAIN, errno.EWOULDBLOCK, errno.EINTR):
                        log.debug("RTP socket error: %s", os.strerror(code))
                return dropped
            now = clock()  # the batch's arrival, for the jitter (read within one slot anyway)
            for i in range(got):
                length = words[i * stride + len_word]
                if length >= RECV_SIZE and words[i * stride + flags_word] & _MSG_TRUNC:
                    dropped += 1  # too long to be RTP audio
                    continue
                at = i * 4  # 32 bytes a name, 8 a word
                key: Key = (names[at], names[at + 1], names[at + 2]) if v6 else names[at]
                handle(key, data, i * RECV_SIZE, length, now)
            if got < RECV_BATCH:
                return dropped
        return dropped


class PlainBatches:
    """`DatagramBatches` with sendto and recvfrom, a packet a system call."""

    batched = False
    capacity = sys.maxsize

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.family = socket.AddressFamily(sock.family)
        self._queued: list[tuple[bytes, bytes]] = []

    def queue(self, name: bytes, second: int, seq: int, timestamp: int, ssrc: int, payload: bytes) -> bool:
        self._queued.append((name, _FIXED.pack(0x80, second, seq, timestamp, ssrc) + payload))
        return True

    def flush(self, skip: Container[int]) -> list[tuple[int, int, OSError]]:
        refused: list[tuple[int, int, OSError]] = []
        sendto, family = self.sock.sendto, self.family
        for i, (name, packet) in enumerate(self._queued):
            if i in skip:
                continue
            try:
                sendto(packet, address_of(family, name))
            except OSError as exc:
                refused.append((i, len(packet) - 12, exc))
        self._queued.clear()
        return refused

    def discard(self) -> None:
        self._queued.clear()

    def receive(self, handle: Handler, clock: Callable[[], float]) -> int:
        recvfrom, family = self.sock.recvfrom, self.family
        dropped = 0
        for _ in range(RECV_BATCH):
            try:
                data, addr = recvfrom(RECV_SIZE)
            except (BlockingIOError, InterruptedError):
                return dropped
            except OSError as exc:
                log.debug("RTP socket error: %s", exc)
                return dropped
            key = key_of_address(family, addr[0], addr[1])
            if key is None:
                dropped += 1
            else:
                handle(key, data, 0, len(data), clock())
        return dropped
