"""Recordings end to end: Record=true on a call, and the <Record> verb, through the twilio SDK."""

from __future__ import annotations

import asyncio
import io
import os
import signal
import time
import wave
from collections.abc import Iterator

import httpx
import numpy as np
import pytest
from starlette.responses import Response
from twilio.rest import Client
from twilio.twiml.voice_response import VoiceResponse

from callgate.telephony.aio.tts import Speaker
from tests.audio_checks import best_alignment
from tests.engine.server import Serve, twilio_user
from tests.engine.test_e2e_twilio import tone_wav, wait_completed
from tests.engine.webapp import WebApp

pytestmark = [pytest.mark.sdk, pytest.mark.slow]

FROM = "+14155550199"
MESSAGE = "Please call me back tomorrow morning"
SIX_SECONDS = "+14155550778"  # answers, plays exactly 6 s of tone, hangs up
PHONES = f"""
[[phones]]
number = "+14155550777"
steps = [{{ ring = 1 }}, "answer", {{ wait = 1.5 }}, {{ say = "{MESSAGE}" }}, {{ wait = 1 }},
         {{ press = "#" }}]

[[phones]]
number = "{SIX_SECONDS}"
steps = [{{ ring = 1 }}, "answer", {{ play = "six-seconds.wav" }}, "hangup"]
"""


@pytest.fixture(scope="module", params=["per-call", "shared"])
def setup(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Serve, Client, WebApp, dict]]:
    """`callgate serve` with its calls' RTP on ports of their own, then on its one shared port."""
    workdir = tmp_path_factory.mktemp("record")
    # A caller who waits for the beep, leaves a message and presses #.
    (workdir / "phones.toml").write_text(PHONES)
    (workdir / "six-seconds.wav").write_bytes(tone_wav(seconds=6.0, freq=500.0))
    server = Serve(f"sqlite:///{workdir}/callgate.db", workdir, CALLGATE_RECORDINGS=str(workdir / "rec"),
                   CALLGATE_SANDBOX_PHONES=str(workdir / "phones.toml"),
                   CALLGATE_MEDIA_PORTS=request.param)  # fmt: skip
    with twilio_user(server) as (client, app, account):
        yield server, client, app, account


def pcm(wav_bytes: bytes) -> np.ndarray:
    with wave.open(io.BytesIO(wav_bytes)) as w:
        assert (w.getframerate(), w.getsampwidth()) == (8000, 2)
        return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")


def test_a_recorded_call_holds_the_played_audio(setup):
    server, twilio, app, account = setup
    tone = tone_wav(seconds=1.0, freq=700.0)
    app.route("/tone.wav", lambda hit: Response(tone, media_type="audio/wav"))
    doc = VoiceResponse()
    doc.play(app.url("/tone.wav"))
    doc.pause(length=1)
    call = twilio.calls.create(
        to="+14155550190", from_=FROM, url=app.route("/voice-rec", str(doc)), record=True,
        status_callback=app.url("/status-rec"), recording_status_callback=app.url("/recording-status"),
    )  # fmt: skip
    final = wait_completed(app, "/status-rec", call.sid)
    assert final.params["CallStatus"] == "completed"
    (status,) = [h for h in app.wait_hits("/recording-status") if h.params["CallSid"] == call.sid]
    assert status.signature_ok
    assert status.params["RecordingStatus"] == "completed"
    assert status.params["RecordingSource"] == "OutboundAPI"
    sid = status.params["RecordingSid"]
    assert sid.startswith("RE") and final.params["RecordingSid"] == sid
    assert final.params["RecordingUrl"] == status.params["RecordingUrl"]
    # 1 s of tone; the far end (0190) is silent and trim-silence (the default Trim) cuts the rest.
    assert int(status.params["RecordingDuration"]) == 1
    # The resource, through the SDK, and the audio at RecordingUrl + .wav / .mp3.
    recording = twilio.recordings(sid).fetch()
    assert recording.call_sid == call.sid and recording.status == "completed"
    assert [r.sid for r in twilio.calls(call.sid).recordings.list()] == [sid]
    audio = httpx.get(status.params["RecordingUrl"] + ".wav", timeout=10)
    assert audio.status_code == 200
    reference = pcm(tone)
    assert best_alignment(pcm(audio.content), reference[:4000]) > 0.8, "the played tone is in the recording"
    mp3 = httpx.get(status.params["RecordingUrl"] + ".mp3", timeout=10)
    assert mp3.status_code == 200 and mp3.headers["content-type"] == "audio/mpeg"


def test_the_record_verb_records_the_caller_until_the_finish_key(setup):
    server, twilio, app, account = setup
    doc = VoiceResponse()
    doc.record(action=app.url("/recorded"), finish_on_key="#", play_beep=False, timeout=10, max_length=20,
               recording_status_callback=app.url("/verb-recording-status"))  # fmt: skip
    app.route("/recorded", "<Response><Hangup/></Response>")
    call = twilio.calls.create(to="+14155550777", from_=FROM, url=app.route("/voice-record", str(doc)))
    (action,) = [h for h in app.wait_hits("/recorded", timeout=30) if h.params["CallSid"] == call.sid]
    assert action.signature_ok
    assert action.params["Digits"] == "#"
    assert 1 <= int(action.params["RecordingDuration"]) <= 4  # the message, trimmed of its silences
    (status,) = [h for h in app.wait_hits("/verb-recording-status") if h.params["CallSid"] == call.sid]
    assert status.params["RecordingSid"] == action.params["RecordingSid"]
    assert status.params["RecordingSource"] == "RecordVerb"
    audio = httpx.get(action.params["RecordingUrl"], timeout=10)
    assert audio.status_code == 200
    message = asyncio.run(Speaker().speak(MESSAGE))
    middle = message[len(message) // 4 : 3 * len(message) // 4]  # trim-silence shortened the ends
    assert best_alignment(pcm(audio.content), middle) > 0.8, "the caller's message"


def stall(pid: int, times: int, seconds: float) -> None:
    """Stop the process now and then, as a busy machine does (its sandbox, a process of its own,
    goes on playing)."""
    for _ in range(times):
        os.kill(pid, signal.SIGSTOP)
        try:
            time.sleep(seconds)  # the stall itself
        finally:
            os.kill(pid, signal.SIGCONT)
        time.sleep(0.2)  # it runs again, and sees the time it lost


def test_an_untrimmed_recording_holds_the_whole_call_through_a_stalled_process(setup):
    server, twilio, app, account = setup
    doc = VoiceResponse()
    doc.pause(length=30)
    call = twilio.calls.create(
        to=SIX_SECONDS, from_=FROM, url=app.route("/voice-six", str(doc)), record=True, trim="do-not-trim",
        status_callback=app.url("/status-six"), recording_status_callback=app.url("/recording-six"),
    )  # fmt: skip
    app.wait_for(lambda hits: [h for h in hits if h.path == "/voice-six" and h.params["CallSid"] == call.sid])
    assert server.proc is not None
    stall(server.proc.pid, times=2, seconds=0.5)  # the recorder is on: the document was asked for
    wait_completed(app, "/status-six", call.sid)
    (status,) = [h for h in app.wait_hits("/recording-six") if h.params["CallSid"] == call.sid]
    audio = pcm(httpx.get(status.params["RecordingUrl"] + ".wav", timeout=10).content)
    seconds = len(audio) / 8000
    # The whole answered call, its 6 s of tone, a second of which came while Callgate was stopped.
    assert 5.5 < seconds < 7.0
    assert int(status.params["RecordingDuration"]) == 6
    blocks = audio[: len(audio) // 160 * 160].reshape(-1, 160).astype(np.float64)
    tone_frames = int((np.sqrt((blocks**2).mean(axis=1)) > 2000).sum())
    assert tone_frames >= 270, f"{tone_frames} of the tone's 300 frames"  # less its first moments
    assert twilio.recordings(status.params["RecordingSid"]).fetch().duration == "6"
