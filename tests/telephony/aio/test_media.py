"""RTP streams on loopback: one plays, presses keys and records; the other hears it all, once."""

from __future__ import annotations

import asyncio
import random
import wave

import numpy as np
import pytest

from callgate.telephony.aio.media import MediaClock, RtpStream
from callgate.telephony.aio.tts import espeak_voice, speaker
from callgate.telephony.media.audio import frames
from callgate.telephony.media.recorder import Recorder
from callgate.telephony.media.tones import tone
from callgate.telephony.rtp.rtcp import middle_32, ntp_from_unix
from callgate.telephony.rtp.session import RtpSession
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


async def test_a_streams_identity_and_its_report_times_come_from_what_it_is_given():
    """No clock or random source of its own: the SSRC, sequence and timestamp come from the source
    it is given, and its sender reports carry the wall time of its media clock."""
    wall = 1_700_000_000.25
    clock = MediaClock(wall=lambda: wall)
    a = await RtpStream.open(clock=clock, entropy=random.Random(5))
    b = await RtpStream.open(clock=clock)
    expected = RtpSession(random.Random(5))
    assert (a.ssrc, a.session.sequence, a.session.timestamp) == (
        expected.ssrc,
        expected.sequence,
        expected.timestamp,
    )
    try:
        a.connect(b.local_address, codec="PCMU", payload_type=0, dtmf_payload_type=101)
        b.connect(a.local_address, codec="PCMU", payload_type=0, dtmf_payload_type=101)
        a.rtcp_interval = 10  # a report every ~200 ms instead of 5 s
        await until(lambda: b.session.last_sr is not None, b)
        assert b.session.last_sr is not None and b.session.last_sr[0] == middle_32(ntp_from_unix(wall))
    finally:
        a.close()
        b.close()
