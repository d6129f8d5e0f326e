"""The sandbox's voices: calls with audio to the plan's numbers, checked by what Callgate records."""

from __future__ import annotations

import asyncio
import wave

import numpy as np
import pytest

from callgate.sandbox.plan import GREETING
from callgate.sandbox.uas import Sandbox
from callgate.telephony.aio.endpoint import SipEndpoint
from callgate.telephony.aio.leg import CallLeg, Outcome
from callgate.telephony.aio.media import RtpStream
from callgate.telephony.aio.tts import speaker
from callgate.telephony.media.audio import frames
from callgate.telephony.media.recorder import Recorder
from callgate.telephony.media.tones import ToneDetector, tone
from tests.audio_checks import best_alignment

pytestmark = [pytest.mark.anyio, pytest.mark.interop]


@pytest.fixture
async def sandbox(tmp_path):
    box = await Sandbox.start("127.0.0.1", 0, time_scale=0.01, recordings=tmp_path)
    yield box
    box.close()


@pytest.fixture
async def endpoint():
    ep = await SipEndpoint.open("127.0.0.1", 0)
    yield ep
    ep.close()


async def call(endpoint, sandbox, number: str, tmp_path) -> tuple[CallLeg, Recorder]:
    host, port = sandbox.address
    media = await RtpStream.open()
    recorder = Recorder(tmp_path / f"heard-{number}.wav", track="inbound")
    media.listeners.append(recorder)
    leg = CallLeg(endpoint, target=f"sip:{number}@{host}:{port}", destination=(host, port),
                  from_user="+14155550199", media=media)  # fmt: skip
    result = await leg.dial(timeout_s=10)
    assert (result.outcome, result.status) == (Outcome.ANSWERED, 200)
    assert leg.negotiated is not None and leg.negotiated.codec == "PCMU"
    return leg, recorder


def samples_of(path) -> np.ndarray:
    with wave.open(str(path)) as w:
        return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.int16)


async def test_0100_says_hello_then_hangs_up(endpoint, sandbox, tmp_path):
    leg, recorder = await call(endpoint, sandbox, "+14155550100", tmp_path)
    await asyncio.wait_for(leg.remote_hangup.wait(), timeout=15)  # 120 s at 1/100 speed, after "Hello?"
    recorder.close()
    heard = samples_of(recorder.path)
    hello = await speaker().speak("Hello?")
    assert best_alignment(heard, hello) > 0.9  # the person's voice, through G.711 and the network
    # The sandbox recorded our side: silence (we sent nothing).
    (mine,) = [p for p in tmp_path.glob("*.wav") if not p.name.startswith("heard-")]
    assert np.abs(samples_of(mine)).max() < 200


async def test_0101_presses_1234_pound(endpoint, sandbox, tmp_path):
    leg, recorder = await call(endpoint, sandbox, "+14155550101", tmp_path)
    digits: list[str] = []
    got_all = asyncio.Event()

    def on_digit(d: str) -> None:
        digits.append(d)
        if len(digits) == 5:
            got_all.set()

    leg.media.digit_listeners.append(on_digit)
    await asyncio.wait_for(got_all.wait(), timeout=15)
    assert "".join(digits) == "1234#"
    assert await leg.hangup() == 200
    recorder.close()


async def test_0110_greets_then_beeps(endpoint, sandbox, tmp_path):
    leg, recorder = await call(endpoint, sandbox, "+14155550110", tmp_path)
    beep = ToneDetector(1000.0, min_seconds=0.5)
    heard_beep = asyncio.Event()
    leg.media.listeners.append(lambda inbound, outbound: beep.feed(inbound) and heard_beep.set())
    await asyncio.wait_for(heard_beep.wait(), timeout=30)
    assert await leg.hangup() == 200
    recorder.close()
    heard = samples_of(recorder.path)
    greeting = await speaker().speak(GREETING.text)
    first_second = greeting[:8000]
    assert best_alignment(heard, first_second) > 0.9  # the greeting came before the beep


async def test_0180_echoes_audio_and_digits(endpoint, sandbox, tmp_path):
    leg, recorder = await call(endpoint, sandbox, "+14155550180", tmp_path)
    digits: list[str] = []
    leg.media.digit_listeners.append(digits.append)
    sent = np.concatenate([tone((523.0,), 0.3), tone((784.0, 1046.0), 0.3)])
    await leg.media.play(frames(sent))
    await leg.media.press("42#")
    for _ in range(100):  # until the echoed digits are back (bounded)
        if len(digits) == 3:
            break
        await asyncio.sleep(0.02)
    assert "".join(digits) == "42#"
    assert await leg.hangup() == 200
    recorder.close()
    assert best_alignment(samples_of(recorder.path), sent) > 0.9


async def test_hold_and_resume_by_re_invite(endpoint, sandbox, tmp_path):
    from callgate.telephony.aio.leg import new_branch
    from callgate.telephony.sip.dialog import Via
    from callgate.telephony.sip.sdp import SessionDescription, build_offer

    leg, recorder = await call(endpoint, sandbox, "+14155550190", tmp_path)  # silent: stays on the line
    far = next(iter(sandbox._calls.values()))
    host, port = leg.media.local_address

    async def reoffer(direction: str, version: int) -> SessionDescription:
        request = leg.dialog.request("INVITE", via=Via(*endpoint.local_address), branch=new_branch())
        request.headers.set("Content-Type", "application/sdp")
        request.body = build_offer(host, port, 7, version, direction=direction).serialize()
        request.with_content_length()
        queue = endpoint.send_request(request, sandbox.address)
        while (event := await asyncio.wait_for(queue.get(), timeout=5)).response.status < 200:
            pass
        assert event.response.status == 200
        endpoint.send_request(leg.dialog.ack(request.cseq.seq, via=Via(*endpoint.local_address),
                                             branch=new_branch()), sandbox.address)  # fmt: skip
        return SessionDescription.parse(event.response.body)

    held = await reoffer("sendonly", 2)
    assert held.direction_of(held.media[0]) == "recvonly" and not far.media.sending
    resumed = await reoffer("sendrecv", 3)
    assert resumed.direction_of(resumed.media[0]) == "sendrecv" and far.media.sending
    assert resumed.origin.version == held.origin.version + 1  # RFC 3264 8: one more per answer
    assert await leg.hangup() == 200
    recorder.close()


async def test_a_sandbox_on_every_address_advertises_a_real_one(endpoint, tmp_path):
    """Bound to 0.0.0.0, the sandbox must not put 0.0.0.0 in its Contact or SDP (0.0.0.0 means hold)."""
    from callgate.sandbox.uas import advertised_host

    assert advertised_host("0.0.0.0", "127.0.0.1") == "127.0.0.1"
    assert advertised_host("192.0.2.7", "127.0.0.1") == "192.0.2.7"
    box = await Sandbox.start("0.0.0.0", 0, time_scale=0.01)
    try:
        leg, recorder = await call(endpoint, box, "+14155550190", tmp_path)
        assert leg.negotiated.remote_address == "127.0.0.1" and not leg.negotiated.on_hold
        assert leg.dialog.remote_target.startswith("sip:sandbox@127.0.0.1:")
        assert await leg.hangup() == 200
        recorder.close()
    finally:
        box.close()
