"""A call's recording through the SignalWire face, end to end: `Record=true` with `Trim=do-not-trim`
covers the whole answered call, even when the Callgate process stalls meanwhile (a busy machine,
here SIGSTOP), while the far end (the sandbox, a process of its own) goes on sending."""

from __future__ import annotations

import io
import os
import signal
import time
import wave
from collections.abc import Iterator

import pytest
import requests
from engine_support import PhoneBookServer, VoiceApp, tone_wav
from signalwire.voice_response import VoiceResponse
from support import Account

FROM = "+14155550199"
SIX_SECONDS = "+14155550883"  # answers, plays exactly 6 s of tone, hangs up
PHONES = f"""
[[phones]]
number = "{SIX_SECONDS}"
steps = [{{ ring = 1 }}, "answer", {{ play = "six-seconds.wav" }}, "hangup"]
"""


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Account]:
    workdir = tmp_path_factory.mktemp("sw-record")
    (workdir / "phones.toml").write_text(PHONES)
    (workdir / "six-seconds.wav").write_bytes(tone_wav(6.0, 500.0))
    server = PhoneBookServer("sqlite", f"sqlite:///{(workdir / 'cg.db').resolve()}", workdir)
    try:
        account = Account(server, server.create_account("sw-record"))
        server.start()
        yield account
    finally:
        server.stop()


def stall(pid: int, times: int, seconds: float) -> None:
    """Stop the process now and then, as a busy machine does."""
    for _ in range(times):
        os.kill(pid, signal.SIGSTOP)
        try:
            time.sleep(seconds)  # the stall itself
        finally:
            os.kill(pid, signal.SIGCONT)
        time.sleep(0.2)  # it runs again, and sees the time it lost


def test_an_untrimmed_recording_holds_the_whole_call_through_a_stalled_process(engine):
    with VoiceApp({engine.signing_key}) as app:
        doc = VoiceResponse()
        doc.pause(length=30)
        call = engine.client().calls.create(
            to=SIX_SECONDS, from_=FROM, url=app.route("/voice", str(doc)), record=True, trim="do-not-trim",
            status_callback=app.url("/status"), recording_status_callback=app.url("/recording"),
        )  # fmt: skip
        app.wait_call("/voice", call.sid)  # answered: the recorder is on
        proc = engine.server.proc
        assert proc is not None
        stall(proc.pid, times=2, seconds=0.5)
        app.wait_final("/status", call.sid)
        (status,) = app.wait_call("/recording", call.sid)
        assert status.verified_by == engine.signing_key
    audio = requests.get(status.params["RecordingUrl"] + ".wav", timeout=10)
    assert audio.status_code == 200
    with wave.open(io.BytesIO(audio.content)) as w:
        seconds = w.getnframes() / w.getframerate()
    # The whole answered call, its 6 s of tone, a second of which came while Callgate was stopped.
    assert 5.5 < seconds < 7.0
    assert status.params["RecordingDuration"] == "6"
    recording = engine.client().recordings(status.params["RecordingSid"]).fetch()
    assert recording.duration == 6  # an integer on SignalWire
