"""Callgate calls baresip, a real softphone from Debian, and plays it a spoken sentence and a WAV
file; baresip's own recording of what it heard must hold that audio, in order."""

from __future__ import annotations

import asyncio
import io
import wave

import numpy as np
import pytest

from callgate.telephony.aio.endpoint import SipEndpoint
from callgate.telephony.aio.leg import CallLeg, Outcome
from callgate.telephony.aio.media import RtpStream
from callgate.telephony.aio.tts import speaker
from callgate.telephony.media.audio import frames, read_wav
from callgate.telephony.media.tones import silence
from tests.audio_checks import alignment
from tests.telephony.aio.peers import Baresip

pytestmark = [pytest.mark.anyio, pytest.mark.interop]


def wav_file(target, samples: np.ndarray, rate: int) -> None:
    with wave.open(target if isinstance(target, io.BytesIO) else str(target), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(samples.astype("<i2").tobytes())


async def test_baresip_hears_speech_then_a_wav(tmp_path):
    wav_file(tmp_path / "quiet.wav", silence(30.0), 8000)  # what baresip sends: 30 s of nothing
    # The WAV Callgate plays: a chord at 16 kHz, so that it is resampled on the way.
    t = np.arange(16000) / 16000
    chord = (0.3 * 32767 * (np.sin(2 * np.pi * 440 * t) + np.sin(2 * np.pi * 660 * t)) / 2).astype(np.int16)
    buffer = io.BytesIO()
    wav_file(buffer, chord, 16000)
    baresip = Baresip(tmp_path, tmp_path / "quiet.wav")
    endpoint = await SipEndpoint.open("127.0.0.1", 0)
    try:
        media = await RtpStream.open()
        leg = CallLeg(endpoint, target=baresip.target, destination=baresip.destination,
                      from_user="+14155550199", media=media)  # fmt: skip
        result = await leg.dial(timeout_s=10)
        assert (result.outcome, result.status) == (Outcome.ANSWERED, 200)
        sentence = await speaker().speak("Your appointment is confirmed for Tuesday at three.")
        from_file = read_wav(buffer.getvalue())
        await asyncio.wait_for(media.play(frames(sentence)), timeout=20)
        await asyncio.wait_for(media.play(frames(from_file)), timeout=20)
        await asyncio.wait_for(media.play(frames(silence(0.3))), timeout=5)  # let the tail arrive
        assert await leg.hangup() == 200
    finally:
        endpoint.close()
        baresip.stop()
    with wave.open(str(baresip.heard())) as w:
        assert (w.getframerate(), w.getnchannels()) == (8000, 1)
        heard = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
    speech_score, speech_at = alignment(heard, sentence)
    file_score, file_at = alignment(heard, from_file)
    assert speech_score > 0.9 and file_score > 0.9
    assert file_at > speech_at  # in the order played
