"""Audio and digits from SIPp, a real RTP peer: SIPp plays a known PCMU file and RFC 2833 digits to
Callgate; Callgate's recording must hold that audio, and the digits must arrive in order."""

from __future__ import annotations

import asyncio
import wave

import numpy as np
import pytest

from callgate.telephony.aio.endpoint import SipEndpoint
from callgate.telephony.aio.leg import CallLeg, Outcome
from callgate.telephony.aio.media import RtpStream
from callgate.telephony.aio.tts import speaker
from callgate.telephony.media import g711
from callgate.telephony.media.audio import frames
from callgate.telephony.media.recorder import Recorder
from callgate.telephony.media.tones import tone
from tests.audio_checks import best_alignment
from tests.telephony.aio.peers import SCENARIOS, Sipp, free_media_port
from tests.telephony.aio.waits import ticks, until

pytestmark = [pytest.mark.anyio, pytest.mark.interop]


@pytest.mark.parametrize("shared", [False, True], ids=["own-port", "shared-port"])
async def test_sipp_plays_a_file_and_digits_to_callgate(tmp_path, shared):
    speech = await speaker().speak("The quick brown fox jumps over the lazy dog.")
    pcmu = g711.encode(speech, "PCMU")
    audio = tmp_path / "speech.ulaw"
    audio.write_bytes(pcmu)
    audio_ms = len(pcmu) // 8
    assert audio_ms < 3400  # the scenario presses its keys 3.5 s after the answer
    sipp = Sipp(["-sf", str(SCENARIOS / "uas_plays_audio_and_digits.xml"), "-mi", "127.0.0.1",
                 "-mp", str(free_media_port())], tmp_path)  # fmt: skip
    endpoint = await SipEndpoint.open("127.0.0.1", 0)
    media = await RtpStream.open(shared=shared)
    recorder = Recorder(tmp_path / "heard.wav", track="inbound")
    media.listeners.append(recorder)
    digits: list[str] = []
    all_digits = asyncio.Event()

    def on_digit(d: str) -> None:
        digits.append(d)
        if len(digits) == 3:
            all_digits.set()

    media.digit_listeners.append(on_digit)
    try:
        leg = CallLeg(endpoint, target=sipp.target, destination=sipp.destination, from_user="+14155550199",
                      media=media)  # fmt: skip
        result = await leg.dial(timeout_s=10)
        assert (result.outcome, result.status) == (Outcome.ANSWERED, 200)
        assert (leg.negotiated.codec, leg.negotiated.dtmf_payload_type) == ("PCMU", 101)
        await asyncio.wait_for(all_digits.wait(), timeout=audio_ms / 1000 + 15)
        assert await leg.hangup() == 200
        assert sipp.wait() == 0
    finally:
        endpoint.close()
    recorder.close()
    assert "".join(digits) == "15#"
    with wave.open(str(recorder.path)) as w:
        heard = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
    sent = g711.decode(pcmu, "PCMU")
    # The whole sentence, aligned: what SIPp sent is what Callgate recorded.
    assert best_alignment(heard, sent) > 0.95


async def test_callgate_digits_reach_sipp_as_tshark_decodes_them(tmp_path):
    import shutil
    import signal
    import socket
    import subprocess

    if shutil.which("tshark") is None:
        pytest.fail("tshark is not installed: `make test` installs Debian's tshark")
    media_port = free_media_port()
    capture = tmp_path / "rtp.pcapng"
    tshark = subprocess.Popen(
        ["tshark", "-i", "lo", "-f", f"udp dst port {media_port}", "-w", str(capture), "-a", "duration:30"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert tshark.stderr is not None
    for line in tshark.stderr:  # "Capturing on 'Loopback: lo'": the capture is running
        if "Capturing on" in line:
            break
    sipp = Sipp(
        ["-sf", str(SCENARIOS / "uas_listens.xml"), "-mi", "127.0.0.1", "-mp", str(media_port)], tmp_path
    )
    endpoint = await SipEndpoint.open("127.0.0.1", 0)
    try:
        media = await RtpStream.open()
        leg = CallLeg(endpoint, target=sipp.target, destination=sipp.destination, from_user="+14155550199",
                      media=media)  # fmt: skip
        assert (await leg.dial(timeout_s=10)).outcome is Outcome.ANSWERED
        await asyncio.wait_for(media.press("2580*#"), timeout=10)
        assert await leg.hangup() == 200
        assert sipp.wait() == 0
        # dumpcap writes packets in batches: send a marker after the last packet, and stop the capture
        # once the marker is in the file (so everything before it is too).
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as marker:
            for _ in range(50):
                marker.sendto(b"callgate-capture-end", ("127.0.0.1", media_port))
                seen = subprocess.run(
                    ["tshark", "-r", str(capture), "-Y", 'udp contains "callgate-capture-end"'],
                    capture_output=True, text=True, timeout=30,
                ).stdout  # fmt: skip
                if seen.strip():
                    break
                await asyncio.sleep(0.1)
    finally:
        endpoint.close()
        tshark.send_signal(signal.SIGINT)
        tshark.wait(timeout=10)
    fields = subprocess.run(
        ["tshark", "-r", str(capture), "-d", f"udp.port=={media_port},rtp",
         "-o", "rtpevent.event_payload_type_value:101", "-Y", "rtpevent",
         "-T", "fields", "-e", "rtp.timestamp", "-e", "rtpevent.event_id"],
        capture_output=True, text=True, timeout=30, check=True,
    ).stdout.split()  # fmt: skip
    events = dict(zip(fields[0::2], fields[1::2], strict=True))  # one entry per event (its start timestamp)
    names = "0123456789*#ABCD"
    decoded = "".join(names[int(events[ts])] for ts in sorted(events, key=int))
    assert decoded == "2580*#"


async def test_early_media_is_heard_before_the_call_fails(tmp_path):
    speech = await speaker().speak("The number you have called is busy.")
    pcmu = g711.encode(speech, "PCMU")
    assert len(pcmu) // 8 < 2500  # the scenario waits 3 s before its 486
    (tmp_path / "speech.ulaw").write_bytes(pcmu)
    sipp = Sipp(["-sf", str(SCENARIOS / "early_media_then_busy.xml"), "-mi", "127.0.0.1",
                 "-mp", str(free_media_port())], tmp_path)  # fmt: skip
    endpoint = await SipEndpoint.open("127.0.0.1", 0)
    media = await RtpStream.open()
    recorder = Recorder(tmp_path / "heard.wav", track="inbound")
    media.listeners.append(recorder)
    try:
        leg = CallLeg(endpoint, target=sipp.target, destination=sipp.destination, from_user="+14155550199",
                      media=media)  # fmt: skip
        result = await leg.dial(timeout_s=10)
        assert (result.outcome, result.status) == (Outcome.BUSY, 486)
        assert leg.early_media.is_set() and leg.negotiated.codec == "PCMU"
        assert sipp.wait() == 0
    finally:
        media.close()
        endpoint.close()
    recorder.close()
    with wave.open(str(recorder.path)) as w:
        heard = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
    assert best_alignment(heard, g711.decode(pcmu, "PCMU")) > 0.95


async def test_two_calls_on_the_shared_port_each_get_their_own_echo_from_sipp(tmp_path):
    """SIPp's -rtp_echo answers both calls on one media port and sends every packet back: the
    shared port tells the echoes apart by SSRC, so each call hears its own tone, not the other's."""
    sipp = Sipp(["-sf", str(SCENARIOS / "uas_listens.xml"), "-mi", "127.0.0.1", "-mp", str(free_media_port()),
                 "-rtp_echo"], tmp_path, calls=2)  # fmt: skip
    endpoint = await SipEndpoint.open("127.0.0.1", 0)
    tones = [tone((500.0,), 1.0), tone((900.0, 1300.0), 1.0)]
    legs, ears = [], []
    try:
        for _ in tones:
            media = await RtpStream.open(shared=True)
            ear: list[np.ndarray] = []
            media.listeners.append(lambda inbound, outbound, ear=ear: ear.append(inbound))
            leg = CallLeg(endpoint, target=sipp.target, destination=sipp.destination,
                          from_user="+14155550199", media=media)  # fmt: skip
            assert (await leg.dial(timeout_s=10)).outcome is Outcome.ANSWERED
            legs.append(leg)
            ears.append(ear)
        assert legs[0].media.port is legs[1].media.port  # one socket for both calls
        assert legs[0].media.remote == legs[1].media.remote  # and one echo address for both
        await asyncio.gather(*(leg.media.play(frames(sound)) for leg, sound in zip(legs, tones, strict=True)))
        for leg in legs:
            leg.media.sending = False  # the tones are out: what is still to come are their echoes
        streams = [leg.media for leg in legs]
        await until(
            lambda: all(s.stats.packets_received >= s.stats.packets_sent for s in streams), streams[0]
        )
        await ticks(streams[0], 5)  # their last frames through the jitter buffers
        for leg in legs:
            assert await leg.hangup() == 200
        assert await sipp.finished() == 0
    finally:
        endpoint.close()
    for mine, other, ear in ((0, 1, ears[0]), (1, 0, ears[1])):
        audio = np.concatenate(ear)
        assert best_alignment(audio, tones[mine]) > 0.9
        assert best_alignment(audio, tones[other]) < 0.5
