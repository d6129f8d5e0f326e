"""The media clock: one task for every stream, ticking on a fixed grid, reading the RTP sockets
itself, yielding to the loop when behind, keeping the time of a stalled process, and stopping with
its last stream."""

from __future__ import annotations

import asyncio
import socket
import threading
import time

import numpy as np
import pytest

from callgate.telephony.aio.clock import MediaClock
from callgate.telephony.aio.media import RtpStream
from tests.telephony.aio.waits import ticks, until

pytestmark = pytest.mark.anyio


async def test_a_clock_that_is_behind_still_lets_the_loop_read_its_sockets():
    """Overloaded (every tick takes longer than the slot), the clock still yields a turn of the
    event loop between slots, where the sockets are read: a callback waiting in the loop runs after
    the next tick, not once the clock gives up on the ticks it missed."""
    clock = MediaClock(period=0.002, slots=1)
    loop = asyncio.get_running_loop()
    ticks: list[int] = []
    ran_after: list[int] = []
    done = loop.create_future()

    class Busy:
        def tick(self) -> None:
            ticks.append(len(ticks))
            if len(ticks) == 1:
                loop.call_soon(lambda: ran_after.append(len(ticks)))
            end = time.monotonic() + 0.003  # longer than the 2 ms slot: always behind
            while time.monotonic() < end:
                pass
            if len(ticks) >= 40 and not done.done():
                clock.remove(self)  # type: ignore[arg-type]
                done.set_result(None)

        def missed_tick(self) -> None:
            pass

    clock.add(Busy())  # type: ignore[arg-type]
    await asyncio.wait_for(done, 10)
    assert ran_after == [1]


async def test_the_clock_reads_the_rtp_sockets_not_the_event_loop():
    """The loop has no reader on a stream's RTP socket (it would wake the process for every
    datagram); the clock's slots read it, a burst included, in order, and before `connect` too."""
    from callgate.telephony.rtp.packet import RtpPacket

    clock = MediaClock()
    a, b = await RtpStream.open(clock=clock), await RtpStream.open(clock=clock)
    try:
        assert asyncio.get_running_loop().remove_reader(b.sock.fileno()) is False
        # b is not connected (it sends nothing); the clock runs for its socket alone
        a.connect(b.local_address, codec="PCMU", payload_type=0, dtmf_payload_type=101)
        a.sending = False
        burst = [RtpPacket(0, seq, seq * 160, 0x1234, bytes([seq]) * 160).serialize() for seq in range(8)]
        for packet in burst:  # more than one slot reads at a time
            a.sock.sendto(packet, b.local_address)
        for _ in range(100):
            if b.stats.packets_received == len(burst):
                break
            await asyncio.sleep(0.005)
        assert b.stats.packets_received == len(burst) and b.stats.bad_packets == 0
        played = []
        b.connect(a.local_address, codec="PCMU", payload_type=0, dtmf_payload_type=101)
        b.listeners.append(lambda inbound, outbound: played.append(inbound))
        for _ in range(100):
            if len(played) >= len(burst):
                break
            await asyncio.sleep(0.01)
        from callgate.telephony.media import g711

        expected = [g711.decode(bytes([seq]) * 160, "PCMU") for seq in range(len(burst))]
        assert all(np.array_equal(got, want) for got, want in zip(played, expected, strict=False))
        assert len(played) >= len(burst)
    finally:
        a.close()
        b.close()


async def test_a_stalled_process_loses_no_time_of_what_it_hears():
    """The process stops for half a second (a busy machine) while a far end of its own keeps sending:
    nothing goes out for the lost ticks, but the listeners get every frame of that time, in order and
    at once, so a recording keeps the call's length and a detector its time; none waits behind."""
    from callgate.telephony.media import g711
    from callgate.telephony.rtp.packet import RtpPacket

    clock = MediaClock()
    stream = await RtpStream.open(clock=clock)
    far = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    far.bind(("127.0.0.1", 0))
    heard: list[np.ndarray] = []
    count = 100  # 2 s of audio, each frame its own bytes
    sent = threading.Event()

    def far_end() -> None:  # a phone on a clock of its own
        start = time.monotonic()
        for seq in range(count):
            time.sleep(max(0.0, start + seq * 0.02 - time.monotonic()))
            packet = RtpPacket(0, seq, seq * 160, 0x4321, bytes([seq]) * 160)
            far.sendto(packet.serialize(), stream.local_address)
        sent.set()

    try:
        stream.connect(far.getsockname(), codec="PCMU", payload_type=0, dtmf_payload_type=101)
        stream.sending = False
        stream.listeners.append(lambda inbound, outbound: heard.append(inbound))
        sender = threading.Thread(target=far_end, daemon=True)
        sender.start()
        await until(lambda: len(heard) >= 10, stream)
        time.sleep(0.5)  # the stall: the loop (and the clock) stops, the far end goes on
        await until(lambda: stream.stats.packets_received == count, stream)
        await ticks(stream, 4)  # the jitter buffer's depth, and a tick of slack
        sender.join(5)
    finally:
        stream.close()
        far.close()
    seq_of = {int(g711.decode(bytes([seq]) * 160, "PCMU")[0]): seq for seq in range(count)}
    played = [seq_of[int(f[0])] for f in heard if int(f[0]) in seq_of and (f == f[0]).all()]
    assert played == list(range(count)), "every frame the far end sent, in order, none left behind"


async def test_the_clock_stops_once_its_last_stream_closes():
    clock = MediaClock()
    stream = await RtpStream.open(clock=clock)
    task = clock._task
    assert task is not None and not task.done()  # an open socket is read, connected or not
    stream.close()
    await asyncio.wait_for(task, 1)
    assert stream.sock.fileno() == -1
    reopened = await RtpStream.open(clock=clock)  # and starts again for the next one
    try:
        assert clock._task is not None and not clock._task.done()
    finally:
        reopened.close()
