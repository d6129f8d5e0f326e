"""The media clock: one task ticks every RTP stream of the process every 20 ms and reads their sockets.

`MediaClock` is the single scheduler: one task wakes every 20 ms on a fixed grid and has each
stream send its frame (a task per stream falls behind at a thousand streams where one task with a
short tick keeps time: bench/media_concurrency.py, docs/PERFORMANCE.md). It keeps how late each
tick was, for the benchmark.

The clock also reads the streams' RTP sockets: they are not given to the event loop. Each slot
(every 2 ms) asks the clock's own poller which sockets hold a datagram and reads one from each.
Through the loop, every datagram woke the process and cost two reads (the second to learn the
socket was empty); here the packets of every stream cost one poll a slot, and a packet
waits at most one slot (2 ms) before it reaches its jitter buffer. RTCP (a packet every few
seconds) stays with the loop.

A stream opened with `shared=True` has no socket of its own: it uses the process's `SharedRtpPort`
on its host (rtp_port.py), which the clock reads like a stream's socket and to which each slot's
packets are queued and then sent together, one system call for the slot.

The clock knows streams only as `Ticking` (media.py's `RtpStream` is one) and opens the shared
ports itself; `monotonic` and `wall` are the time its streams read, injected for tests.
"""

from __future__ import annotations

import asyncio
import logging
import select
import socket
import time
from collections import deque
from collections.abc import Callable
from typing import Protocol

from callgate.telephony.aio.rtp_port import SharedRtpPort

log = logging.getLogger(__name__)

PERIOD = 0.02
MAX_CATCH_UP_TICKS = 500  # a stall longer than 10 s loses its time beyond that (a suspended process)


class Ticking(Protocol):
    """What the clock drives: a stream's tick, and the tick it could not run in time."""

    def tick(self) -> None: ...

    def missed_tick(self) -> None: ...


class MediaClock:
    """Ticks every registered stream every 20 ms, from one task.

    The task wakes every `period / slots` (2 ms) and ticks the streams of that slot: each stream
    keeps its exact 20 ms grid (shifted by its slot), and the process's sending is spread over the
    period instead of leaving in one burst, so no tick waits behind a thousand others. When the
    process stalls (more than five periods late), the missed ticks are not sent in a burst; each
    stream's listeners get their frames at once instead (`_catch_up`), so a recording or a detector
    keeps the call's time.
    """

    def __init__(
        self,
        period: float = PERIOD,
        slots: int = 10,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.period = period
        self.slots = slots
        self.monotonic = monotonic  # the streams' time: packet arrivals, RTCP delays
        self.wall = wall  # and Unix time, for RTCP's NTP timestamps
        self._slots: list[dict[int, Ticking]] = [{} for _ in range(slots)]
        self._where: dict[int, int] = {}
        self._count = 0
        self._task: asyncio.Task[None] | None = None
        self.lateness: deque[float] = deque(maxlen=200_000)  # seconds each slot's tick was late
        self._poller = _poller()
        self._readers: dict[int, _Readable] = {}  # socket fd -> the stream or shared port reading it
        self._ports: dict[tuple[int, str], SharedRtpPort] = {}  # (family, host) -> its shared port
        self._opening: dict[tuple[int, str], asyncio.Future[SharedRtpPort]] = {}

    def _running(self) -> None:
        """Start the clock's task if it is not running on this loop."""
        loop = asyncio.get_running_loop()
        if self._task is None or self._task.done() or self._task.get_loop() is not loop:
            if self._task is not None and self._task.get_loop() is not loop:
                # streams of a loop that is gone are gone too (their sockets with them)
                self._slots = [{} for _ in range(self.slots)]
                self._where.clear()
                self._count = 0
                close = getattr(self._poller, "close", None)  # an epoll holds a descriptor
                if close is not None:
                    close()
                self._poller = _poller()
                self._readers.clear()
                for port in self._ports.values():
                    port.close()
                self._ports.clear()
                self._opening.clear()
            self._task = loop.create_task(self._run())

    def read(self, reader: _Readable, sock: socket.socket) -> None:
        """Read `sock` for `reader` (a stream, or a shared port) from now on, until `unread`."""
        self._running()
        self._poller.register(sock.fileno(), select.POLLIN)
        self._readers[sock.fileno()] = reader

    async def shared_port(self, family: socket.AddressFamily, host: str) -> SharedRtpPort:
        """The process's shared RTP port on `host`, opened on first use (and again after its last
        stream has closed)."""
        self._running()
        key = (int(family), host)
        while True:
            port = self._ports.get(key)
            if port is None:
                opening = self._opening.get(key)
                if opening is None:  # one open at a time: calls that start together share the port
                    opening = self._opening[key] = asyncio.ensure_future(self._open_port(key, family, host))
                port = await asyncio.shield(opening)  # a caller cancelled meanwhile leaves it open
            if not port.closed:  # (its last stream may have closed before this one could join)
                return port

    async def _open_port(
        self, key: tuple[int, str], family: socket.AddressFamily, host: str
    ) -> SharedRtpPort:
        try:
            port = await SharedRtpPort.open(family, host, self.monotonic)
        finally:
            del self._opening[key]
        self._ports[key] = port
        self.read(port, port.sock)
        # Whoever asked for it joins at once; if they were all cancelled meanwhile, nobody will.
        asyncio.get_running_loop().call_later(1.0, self.release, port)
        return port

    def release(self, port: SharedRtpPort) -> None:
        """A stream has left `port`: close the port when it was the last."""
        if len(port) or port.closed:
            return
        for key, open_port in list(self._ports.items()):
            if open_port is port:
                del self._ports[key]
        port.flush()
        self.unread(port.sock)
        port.close()

    def unread(self, sock: socket.socket) -> None:
        fd = sock.fileno()
        if self._readers.pop(fd, None) is not None:
            self._poller.unregister(fd)

    def add(self, stream: Ticking) -> None:
        self._running()
        if id(stream) in self._where:
            return
        slot = min(range(self.slots), key=lambda i: len(self._slots[i]))  # the least busy slot
        self._slots[slot][id(stream)] = stream
        self._where[id(stream)] = slot
        self._count += 1

    def remove(self, stream: Ticking) -> None:
        slot = self._where.pop(id(stream), None)
        if slot is not None:
            self._slots[slot].pop(id(stream), None)
            self._count -= 1

    def __len__(self) -> int:
        return len(self._where)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        step = self.period / self.slots
        start, n = loop.time(), 0
        poll, readers = self._poller.poll, self._readers
        while self._where or self._readers:
            target = start + n * step
            # Behind time too, a turn of the loop between slots: the sockets are read there, and a
            # clock that never yielded while late would leave the packets received meanwhile unread.
            await asyncio.sleep(max(0.0, target - loop.time()))
            now = loop.time()
            streams = self._slots[n % self.slots]
            if streams:
                self.lateness.append(max(0.0, now - target))
            late = now - target
            if late > 5 * self.period:  # the process stalled: no burst of late ticks, but no lost time
                start, n = now - (n % self.slots) * step, n % self.slots
                self._catch_up(min(round(late / self.period), MAX_CATCH_UP_TICKS))
            n += 1
            if readers:
                self._read(poll, readers)
            for stream in list(streams.values()):
                try:
                    stream.tick()
                except Exception:  # one broken stream must not stop the others
                    log.exception("media stream tick failed")
                    self.remove(stream)
            for port in self._ports.values():  # the slot's packets of shared ports leave together
                if port.queued:
                    port.flush()

    def _read(self, poll: Callable[[float], list[tuple[int, int]]], readers: dict[int, _Readable]) -> None:
        """Read the sockets that hold datagrams (one datagram each, or a shared port's batch)."""
        for fd, _ in poll(0):
            reader = readers.get(fd)
            if reader is not None:
                try:
                    reader.readable()
                except Exception:  # one stream's packet must not stop the clock
                    log.exception("reading RTP failed")

    def _catch_up(self, missed: int) -> None:
        """The process stalled for `missed` ticks. Nothing is sent for them (a burst of stale audio
        helps no far end), but each stream's listeners still get a frame for each, what arrived
        meanwhile, read from the sockets as it goes: a recording keeps the call's length and its
        audio, a detector counts the time that passed."""
        streams = [stream for slot in self._slots for stream in slot.values()]
        for _ in range(missed):
            if self._readers:
                self._read(self._poller.poll, self._readers)
            for stream in streams:
                try:
                    stream.missed_tick()
                except Exception:
                    log.exception("media stream tick failed")
                    self.remove(stream)


class _Readable(Protocol):
    def readable(self) -> None: ...


def _poller() -> select.epoll | select.poll:
    """epoll where there is one (it answers with the ready sockets only), else poll."""
    return select.epoll() if hasattr(select, "epoll") else select.poll()
