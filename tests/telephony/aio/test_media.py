"""RTP streams on loopback: one plays, presses keys and records; the other hears it all, once."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
import wave

import numpy as np
import pytest

from callgate.telephony.aio.media import MediaClock, RtpStream
from callgate.telephony.aio.tts import espeak_voice, speaker
from callgate.telephony.media.audio import frames
from callgate.telephony.media.recorder import Recorder
from callgate.telephony.media.tones import tone
from tests.audio_checks import best_alignment
from tests.telephony.aio.waits import ticks, until

pytestmark = pytest.mark.anyio


async def pair(codec: str = "PCMU", pt: int = 0):
    clock = MediaClock()
    a, b = await RtpStream.open(clock=clock), await RtpStream.open(clock=clock)
    a.connect(b.local_address, codec=codec, payload_type=pt, dtmf_payload_type=101)
    b.connect(a.local_address, codec=codec, payload_type=pt, dtmf_payload_type=101)
    return clock, a, b


@pytest.mark.parametrize(("codec", "pt"), [("PCMU", 0), ("PCMA", 8)])
async def test_audio_and_digits_cross_and_are_recorded(tmp_path, codec, pt):
    clock, a, b = await pair(codec, pt)
    recorder = Recorder(tmp_path / "b.wav", track="inbound")
    b.listeners.append(recorder)
    heard: list[str] = []
    b.digit_listeners.append(heard.append)
    try:
        sent = np.concatenate([tone((440.0,), 0.3), tone((660.0, 990.0), 0.3)])
        await asyncio.wait_for(a.play(frames(sent)), timeout=5)
        await asyncio.wait_for(a.press("12w34#"), timeout=5)
        await until(lambda: len(heard) >= 5, b)  # the last key has crossed ...
        await ticks(b, 4)  # ... and the jitter buffer's depth, and a tick of slack
    finally:
        a.close()
        b.close()
    recorder.close()
    assert "".join(heard) == "1234#"
    with wave.open(str(tmp_path / "b.wav")) as w:
        recorded = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
    assert best_alignment(recorded, sent) > 0.95  # G.711 costs a little, nothing more
    assert a.stats.packets_sent > 0 and b.stats.bad_packets == 0
    assert len(clock.lateness) > 0  # one clock drove both streams


async def test_garbage_and_rtcp_on_the_port_are_counted_not_raised():
    clock, a, b = await pair()
    try:
        a.sock.sendto(b"\x00\x01garbage", b.local_address)
        a.sock.sendto(bytes.fromhex("80c8000600000001") + bytes(20), b.local_address)  # an RTCP SR
        await until(lambda: b.stats.bad_packets >= 1, b)  # the garbage is read ...
        await ticks(b, 2)  # ... and, a slot behind it, the RTCP packet (not counted)
        assert b.stats.bad_packets == 1
    finally:
        a.close()
        b.close()


async def test_speech_from_espeak_is_cached_and_voices_map():
    first = await speaker().speak("Hello? Who is this?")
    assert 0.8 < len(first) / 8000 < 4 and np.abs(first).max() > 3000
    assert await speaker().speak("Hello? Who is this?") is first
    assert espeak_voice("man", None) == "en-us+m3" and espeak_voice("alice", "en-GB") == "en-gb+f3"
    assert (
        espeak_voice("Polly.Matthew", "en-US") == "en-us+m3"
        and espeak_voice("Polly.Joanna", None) == "en-us+f3"
    )
    french = await speaker().speak("Bonjour", "woman", "fr-FR")
    assert len(french) > 0


async def test_rtcp_reports_give_each_side_its_call_quality():
    from callgate.telephony.rtp.rtcp import ReceiverReport, SenderReport, parse_compound

    clock, a, b = await pair()
    for stream in (a, b):
        stream.rtcp_interval = 10  # every ~200 ms instead of 5 s
    seen: list[object] = []
    original = b.rtcp_received

    def spy(data: bytes) -> None:
        seen.extend(parse_compound(data))
        original(data)

    b.rtcp.datagram_received = lambda data, addr: spy(data)
    try:
        a.play(frames(tone((440.0,), 3.0)))
        for _ in range(200):  # until a has measured a round trip from b's reports (bounded)
            if a.quality.rtt_avg_ms is not None and len(
                a.quality._reports if hasattr(a.quality, "_reports") else [1]
            ):
                break
            await asyncio.sleep(0.02)
    finally:
        a.close()
        b.close()
    assert any(isinstance(p, SenderReport) and p.ssrc == a.ssrc and p.packet_count > 0 for p in seen)
    assert a.quality.rtt_avg_ms is not None and 0 <= a.quality.rtt_avg_ms < 1000
    assert b.quality.loss_percent == 0.0
    assert 4.0 < b.quality.mos() <= 4.5  # a clean loopback call
    assert any(isinstance(p, SenderReport | ReceiverReport) for p in seen)


async def test_a_bridge_carries_audio_and_digits_between_two_calls(tmp_path):
    """Call 1 (a <-> x, PCMU) and call 2 (y <-> b, PCMA), x bridged to y: a's audio reaches b,
    re-encoded; b's keys reach a."""
    from callgate.telephony.aio.media import bridge

    clock = MediaClock()
    a, x, y, b = [await RtpStream.open(clock=clock) for _ in range(4)]
    a.connect(x.local_address, codec="PCMU", payload_type=0, dtmf_payload_type=101)
    x.connect(a.local_address, codec="PCMU", payload_type=0, dtmf_payload_type=101)
    y.connect(b.local_address, codec="PCMA", payload_type=8, dtmf_payload_type=101)
    b.connect(y.local_address, codec="PCMA", payload_type=8, dtmf_payload_type=101)
    unbridge = bridge(x, y)
    recorder = Recorder(tmp_path / "b.wav", track="inbound")
    b.listeners.append(recorder)
    keys: list[str] = []
    a.digit_listeners.append(keys.append)
    try:
        sent = tone((500.0, 700.0), 0.5)
        await a.play(frames(sent))
        await b.press("9*")
        for _ in range(100):  # until the keys have crossed (bounded)
            if len(keys) == 2:
                break
            await asyncio.sleep(0.02)
        unbridge()
        assert x.listeners == [] and y.digit_listeners == []
    finally:
        for stream in (a, x, y, b):
            stream.close()
    recorder.close()
    assert "".join(keys) == "9*"
    with wave.open(str(recorder.path)) as w:
        heard = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
    assert best_alignment(heard, sent) > 0.9  # through PCMU, a bridge and PCMA


async def test_keys_in_the_audio_are_heard_when_no_events_were_negotiated():
    from callgate.telephony.media.tones import dtmf_tone, silence

    clock = MediaClock()
    a, b = await RtpStream.open(clock=clock), await RtpStream.open(clock=clock)
    a.connect(b.local_address, codec="PCMU", payload_type=0, dtmf_payload_type=None)
    b.connect(a.local_address, codec="PCMU", payload_type=0, dtmf_payload_type=None)
    keys: list[str] = []
    b.digit_listeners.append(keys.append)
    try:
        audio = np.concatenate([part for key in "147" for part in (dtmf_tone(key, 0.1), silence(0.08))])
        await a.play(frames(audio))
        for _ in range(50):
            if len(keys) == 3:
                break
            await asyncio.sleep(0.02)
    finally:
        a.close()
        b.close()
    assert "".join(keys) == "147"


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
