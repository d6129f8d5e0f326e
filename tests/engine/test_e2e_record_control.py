"""Recording a live call through the Recordings API (start, pause, resume, stop), with the twilio SDK.

The call plays a tone on a loop to a sandbox phone that stays silent; the recordings keep what
Callgate sends (`RecordingTrack=outbound`). Progress is read from the recording's own file as it
grows, so the test waits on what was written, never on the clock.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from uuid import UUID

import httpx
import numpy as np
import pytest
from starlette.responses import Response
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client
from twilio.twiml.voice_response import Recording, Stop, VoiceResponse

from tests.audio_checks import best_alignment
from tests.engine.server import Serve, twilio_user
from tests.engine.test_e2e_record import pcm
from tests.engine.test_e2e_twilio import tone_wav, wait_completed
from tests.engine.webapp import WebApp

pytestmark = [pytest.mark.sdk, pytest.mark.slow]

FROM = "+14155550199"
SILENT_PHONE = "+14155550190"  # answers and never makes a sound
BYTES_PER_SECOND = 8000 * 2  # mono 16-bit at 8 kHz


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Client, WebApp, Path]]:
    workdir = tmp_path_factory.mktemp("record-control")
    folder = workdir / "rec"
    server = Serve(f"sqlite:///{workdir}/callgate.db", workdir, CALLGATE_RECORDINGS=str(folder))
    with twilio_user(server) as (client, app, _account):
        tone = tone_wav(seconds=1.0, freq=700.0)
        app.route("/tone.wav", lambda hit: Response(tone, media_type="audio/wav"))
        yield client, app, folder


def live_call(client: Client, app: WebApp, name: str) -> str:
    """A call that plays the tone until it is hung up, answered when this returns."""
    doc = VoiceResponse()
    doc.play(app.url("/tone.wav"), loop=0)
    call = client.calls.create(
        to=SILENT_PHONE, from_=FROM, url=app.route(f"/voice-{name}", str(doc)),
        status_callback=app.url(f"/status-{name}"), status_callback_event=["answered", "completed"],
    )  # fmt: skip
    path = f"/status-{name}"
    app.wait_for(lambda hits: [h for h in hits if h.path == path and h.params["CallSid"] == call.sid
                               and h.params["CallStatus"] == "in-progress"])  # fmt: skip
    return str(call.sid)


def file_of(folder: Path, recording_sid: str) -> Path:
    return folder / f"{UUID(hex=recording_sid[2:])}.wav"


def wait_written(path: Path, size: int, timeout: float = 20.0) -> int:
    """Wait until the recording's file holds at least `size` bytes (it grows 320 bytes every 20 ms)."""
    deadline = time.monotonic() + timeout
    while True:
        now = path.stat().st_size if path.exists() else 0
        if now >= size:
            return now
        assert time.monotonic() < deadline, f"{path} stayed at {now} bytes"
        time.sleep(0.02)


def recording_hits(app: WebApp, path: str, call_sid: str, status: str, count: int = 1) -> list:
    return app.wait_for(  # type: ignore[no-any-return]
        lambda hits: (
            found
            if len(
                found := [
                    h
                    for h in hits
                    if h.path == path
                    and h.params["CallSid"] == call_sid
                    and h.params["RecordingStatus"] == status
                ]
            )
            >= count  # fmt: skip
            else None
        )
    )


def longest_zero_run(samples: np.ndarray) -> int:
    best = run = 0
    for zero in samples == 0:
        run = run + 1 if zero else 0
        best = max(best, run)
    return best


def test_start_pause_resume_and_stop_a_recording_of_a_live_call(setup):
    client, app, folder = setup
    sid = live_call(client, app, "control")
    started = client.calls(sid).recordings.create(
        recording_status_callback=app.url("/rec-control"),
        recording_status_callback_event=["in-progress", "completed"],
        recording_track="outbound",
    )
    assert started.sid.startswith("RE") and started.call_sid == sid
    assert (started.status, started.source, started.track, started.channels) == (
        "in-progress", "StartCallRecordingAPI", "outbound", 1,
    )  # fmt: skip
    (began,) = recording_hits(app, "/rec-control", sid, "in-progress")
    assert began.signature_ok and began.params["RecordingSid"] == started.sid
    assert began.params["RecordingSource"] == "StartCallRecordingAPI"

    path = file_of(folder, started.sid)
    size = wait_written(path, 44 + BYTES_PER_SECOND)  # a second of tone
    paused = client.calls(sid).recordings("Twilio.CURRENT").update(status="paused")
    assert paused.sid == started.sid and paused.status == "paused"
    # Paused with the default PauseBehavior (silence): the file goes on growing, with silence.
    size = wait_written(path, size + BYTES_PER_SECOND // 2)
    resumed = client.calls(sid).recordings(started.sid).update(status="in-progress")
    assert resumed.status == "in-progress"
    wait_written(path, size + BYTES_PER_SECOND)
    stopped = client.calls(sid).recordings("Twilio.CURRENT").update(status="stopped")
    assert stopped.status == "stopped"

    (done,) = recording_hits(app, "/rec-control", sid, "completed")
    assert done.signature_ok and done.params["RecordingSid"] == started.sid
    assert done.params["RecordingSource"] == "StartCallRecordingAPI"
    assert done.params["RecordingTrack"] == "outbound"
    assert int(done.params["RecordingDuration"]) >= 2
    fetched = client.calls(sid).recordings(started.sid).fetch()
    assert fetched.status == "completed" and fetched.duration == done.params["RecordingDuration"]
    # Nothing is going now: Twilio.CURRENT names no recording.
    with pytest.raises(TwilioRestException) as missing:
        client.calls(sid).recordings("Twilio.CURRENT").update(status="paused")
    assert (missing.value.status, missing.value.code) == (404, 20404)
    # The audio: the tone, with the pause as a stretch of silence (at least 0.4 s of zero samples).
    audio = pcm(httpx.get(done.params["RecordingUrl"] + ".wav", timeout=10).content)
    assert best_alignment(audio, pcm(tone_wav(seconds=1.0, freq=700.0))[:4000]) > 0.8
    assert longest_zero_run(audio) >= 3200
    assert client.calls(sid).fetch().status == "in-progress"  # the call goes on
    client.calls(sid).update(status="completed")
    wait_completed(app, "/status-control", sid)


def test_a_recording_still_going_when_the_call_ends_is_completed(setup):
    client, app, folder = setup
    sid = live_call(client, app, "ends")
    started = client.calls(sid).recordings.create(
        recording_status_callback=app.url("/rec-ends"), recording_channels="dual"
    )
    assert (started.status, started.channels, started.track) == ("in-progress", 2, "both")
    wait_written(file_of(folder, started.sid), 44 + 2 * BYTES_PER_SECOND)  # dual: two channels
    client.calls(sid).update(status="completed")
    final = wait_completed(app, "/status-ends", sid)
    assert final.params["CallStatus"] == "completed"
    (done,) = recording_hits(app, "/rec-ends", sid, "completed")  # only completed was asked for
    assert done.params["RecordingChannels"] == "2"
    assert client.recordings(started.sid).fetch().status == "completed"
    assert [h for h in app.on("/rec-ends") if h.params["RecordingStatus"] != "completed"] == []
    # The call is over: a new recording cannot start.
    with pytest.raises(TwilioRestException) as ended:
        client.calls(sid).recordings.create()
    assert (ended.value.status, ended.value.code) == (400, 21220)
    assert len(client.calls(sid).recordings.list()) == 1, "the refused request stored nothing"


def test_bad_requests_get_twilio_errors(setup):
    client, app, _folder = setup
    sid = live_call(client, app, "bad")
    recordings = client.calls(sid).recordings
    with pytest.raises(TwilioRestException) as channels:
        recordings.create(recording_channels="stereo")
    assert (channels.value.status, channels.value.code) == (400, 20001)
    assert "RecordingChannels" in channels.value.msg
    with pytest.raises(TwilioRestException) as url:
        recordings.create(recording_status_callback="not a url")
    assert (url.value.status, url.value.code) == (400, 21205)
    assert recordings.list() == [], "no recording was started by a refused request"
    started = recordings.create()
    with pytest.raises(TwilioRestException) as status:
        recordings(started.sid).update(status="completed")
    assert (status.value.status, status.value.code) == (400, 20001)
    with pytest.raises(TwilioRestException) as unknown:
        recordings("RE" + "0" * 32).update(status="paused")
    assert (unknown.value.status, unknown.value.code) == (404, 20404)
    assert recordings(started.sid).fetch().status == "in-progress", "the refused changes changed nothing"
    client.calls(sid).update(status="completed")
    wait_completed(app, "/status-bad", sid)


def test_a_document_starts_and_stops_a_recording_of_the_call(setup):
    client, app, folder = setup
    doc = VoiceResponse()
    doc.start().recording(
        recording_status_callback="/rec-twiml", track="outbound", channels="mono",
        recording_status_callback_event="in-progress completed", name="greeting",
    )  # fmt: skip
    doc.play(app.url("/tone.wav"))
    stop = Stop()  # the SDK has no <Stop><Recording> helper; its generic nesting writes it
    stop.nest(Recording(name="greeting"))
    doc.append(stop)
    doc.pause(length=1)
    doc.say("Not recorded")
    call = client.calls.create(to=SILENT_PHONE, from_=FROM, url=app.route("/voice-twiml", str(doc)),
                               status_callback=app.url("/status-twiml"))  # fmt: skip
    (began,) = recording_hits(app, "/rec-twiml", call.sid, "in-progress")
    assert began.signature_ok and began.params["RecordingSource"] == "StartCallRecordingTwiML"
    (done,) = recording_hits(app, "/rec-twiml", call.sid, "completed")
    assert done.params["RecordingSid"] == began.params["RecordingSid"]
    # Stopped by the document while the call went on: the tone (1 s, trimmed), and not the speech.
    assert int(done.params["RecordingDuration"]) == 1
    final = wait_completed(app, "/status-twiml", call.sid)
    assert final.params["CallStatus"] == "completed" and int(final.params["CallDuration"]) >= 2
    recording = client.recordings(done.params["RecordingSid"]).fetch()
    assert (recording.status, recording.source, recording.channels) == (
        "completed",
        "StartCallRecordingTwiML",
        1,
    )
    audio = pcm(httpx.get(done.params["RecordingUrl"] + ".wav", timeout=10).content)
    assert best_alignment(audio, pcm(tone_wav(seconds=1.0, freq=700.0))[:4000]) > 0.8
