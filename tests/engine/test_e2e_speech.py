"""Speech with nothing installed but Python's packages: `callgate serve` with no espeak-ng program on
its PATH places a call that says something, records it, and the recording holds the speech; the
sandbox's person says its "Hello?" with the same library."""

from __future__ import annotations

import asyncio
import io
import shutil
import wave
from collections.abc import Iterator

import httpx
import numpy as np
import pytest
from twilio.rest import Client
from twilio.twiml.voice_response import VoiceResponse

from callgate.telephony.aio.tts import Speaker
from tests.audio_checks import best_alignment
from tests.engine.server import Serve, twilio_user
from tests.engine.test_e2e_twilio import wait_completed
from tests.engine.webapp import WebApp

pytestmark = [pytest.mark.sdk, pytest.mark.slow]

TEXT = "Your table for four is ready at the front desk"


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Serve, Client, WebApp]]:
    workdir = tmp_path_factory.mktemp("speech")
    empty = workdir / "bin"
    empty.mkdir()
    # Nothing on the PATH: no espeak-ng program for the server, its sandbox or anything they run.
    server = Serve(f"sqlite:///{workdir}/callgate.db", workdir, PATH=str(empty),
                   CALLGATE_RECORDINGS=str(workdir / "rec"))  # fmt: skip
    with twilio_user(server) as (client, app, _account):
        yield server, client, app


def pcm(data: bytes) -> np.ndarray:
    with wave.open(io.BytesIO(data)) as w:
        return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")


def test_a_recorded_say_holds_the_speech_without_an_espeak_ng_program(setup, monkeypatch, tmp_path):
    server, twilio, app = setup
    doc = VoiceResponse()
    doc.say(TEXT, voice="woman")
    doc.hangup()
    call = twilio.calls.create(
        to="+14155550100", from_="+14155550199", url=app.route("/voice-say", str(doc)), record=True,
        status_callback=app.url("/status-say"), recording_status_callback=app.url("/recording-say"),
    )  # fmt: skip
    assert wait_completed(app, "/status-say", call.sid).params["CallStatus"] == "completed"
    (status,) = [h for h in app.wait_hits("/recording-say") if h.params["CallSid"] == call.sid]
    assert status.params["RecordingStatus"] == "completed"
    recorded = pcm(httpx.get(status.params["RecordingUrl"] + ".wav", timeout=10).content)
    assert "espeak-ng" not in server.log_tail(20000), "no speech error was logged"
    monkeypatch.setenv("PATH", str(tmp_path))
    assert shutil.which("espeak-ng") is None
    said = asyncio.run(Speaker().speak(TEXT, "woman"))
    middle = said[len(said) // 4 : 3 * len(said) // 4]
    assert best_alignment(recorded, middle) > 0.8, "the recording holds what <Say> said"
