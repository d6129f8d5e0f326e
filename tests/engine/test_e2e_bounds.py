"""What a call fetches and renders stays bounded, end to end: `callgate serve` with the sandbox phones,
the twilio SDK, and a web app that serves what would exhaust the server otherwise (an endless audio
file, a 1 GB Content-Length, a 55 KB <Say>, a <Redirect> to itself). Memory is read from the server
process itself (its peak resident size, VmHWM), speech from the espeak-ng it runs."""

from __future__ import annotations

import contextlib
import io
import os
import re
import shutil
import stat
import struct
import time
import wave
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import numpy as np
import pytest
from starlette.responses import Response, StreamingResponse
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client
from twilio.twiml.voice_response import VoiceResponse

from callgate.engine.pacing import MAX_IDLE_DOCUMENTS
from callgate.telephony.aio.fetch import MAX_BYTES
from callgate.telephony.aio.tts import PIECE_CHARS
from tests.engine.server import Serve, twilio_user
from tests.engine.webapp import Hit, WebApp

pytestmark = [pytest.mark.sdk, pytest.mark.slow]

FROM = "+14155550199"
ANSWERS = "+14155550100"  # the sandbox phone that answers and stays on the line
#: how much the endless bodies send at most, whatever the server does with them
BODY_CAP = 4 * MAX_BYTES
CHUNK = b"\0" * (1 << 20)


def blip_wav() -> bytes:
    """20 ms of a tone: one frame of audio."""
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\x00\x10" * 160)
    return out.getvalue()


def peak_rss_kb(pid: int) -> int:
    """The process's peak resident set size (VmHWM), in kB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError(f"no VmHWM for process {pid}")


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Serve, Client, WebApp, Path]]:
    workdir = tmp_path_factory.mktemp("bounds")
    # espeak-ng behind a shim that writes down the length of each text it is given, then runs it.
    shim_dir, spoken = workdir / "bin", workdir / "spoken.log"
    shim_dir.mkdir()
    shim = shim_dir / "espeak-ng"
    real = shutil.which("espeak-ng")
    assert real, "espeak-ng is needed (Debian package espeak-ng)"
    shim.write_text(
        f'#!/bin/sh\nfor text; do :; done\nprintf "%s\\n" "${{#text}}" >> "{spoken}"\nexec {real} "$@"\n'
    )
    shim.chmod(shim.stat().st_mode | stat.S_IXUSR)
    path = f"{shim_dir}{os.pathsep}{os.environ.get('PATH', '')}"
    server = Serve(f"sqlite:///{workdir}/callgate.db", workdir, PATH=path, CALLGATE_SPEECH="program")
    with twilio_user(server) as (client, app, _account):
        yield server, client, app, spoken


def _endless(declared: int | None) -> Response:
    def body() -> Iterator[bytes]:
        for _ in range(BODY_CAP // len(CHUNK)):
            yield CHUNK

    headers = {} if declared is None else {"content-length": str(declared)}
    return StreamingResponse(body(), media_type="audio/wav", headers=headers)


def _fetches(app: WebApp, path: str, sid: str) -> list[Hit]:
    return [h for h in app.on(path) if h.params.get("CallSid") == sid]


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def _until(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    """Poll what another process writes, under a deadline."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def _message(note: Any) -> str:
    """A notification's message (its `message_text` is a form: LogLevel, Msg, ErrorCode, url)."""
    return dict(parse_qsl(note.message_text))["Msg"]


def _hang_up(twilio: Client, sid: str) -> None:
    with contextlib.suppress(TwilioRestException):  # already over: nothing to hang up
        twilio.calls(sid).update(status="completed")


def _completed(app: WebApp, path: str, sid: str, timeout: float = 60) -> Hit:
    hits = app.wait_for(
        lambda hits: [h for h in hits if h.path == path and h.params.get("CallSid") == sid
                      and h.params.get("CallStatus") == "completed"],
        timeout,
    )  # fmt: skip
    hit: Hit = hits[0]
    return hit


@pytest.mark.parametrize(
    ("declared", "refusal"),
    [(None, f"larger than the limit of {MAX_BYTES} bytes"),
     (1 << 30, f"Content-Length {1 << 30} is over the limit of {MAX_BYTES} bytes")],
    ids=["endless", "declared-1GB"],
)  # fmt: skip
def test_a_play_of_a_file_too_large_is_refused_in_bounded_memory(served, declared, refusal):
    server, twilio, app, _spoken = served
    name = "endless" if declared is None else "declared"
    app.route(f"/{name}.wav", lambda _hit: _endless(declared))
    doc = VoiceResponse()
    doc.play(app.url(f"/{name}.wav"))
    doc.hangup()
    assert server.proc is not None
    before = peak_rss_kb(server.proc.pid)
    call = twilio.calls.create(to=ANSWERS, from_=FROM, url=app.route(f"/play-{name}", str(doc)),
                               status_callback=app.url(f"/status-{name}"))  # fmt: skip
    _completed(app, f"/status-{name}", call.sid)
    grown_mb = (peak_rss_kb(server.proc.pid) - before) / 1024
    # The server read at most the 64 MB limit (to a file on disk) of a body of up to 256 MB.
    assert grown_mb < 32, f"the server's peak memory grew by {grown_mb:.0f} MB"
    notes = twilio.calls(call.sid).notifications.list()
    assert [(n.error_code, n.log) for n in notes] == [("11200", "1")]
    assert refusal in _message(notes[0])


def float_wav(seconds: float, rate: int = 48000, channels: int = 2) -> bytes:
    """A 32-bit float WAV: 384 kB a second at 48 kHz stereo, for 8 kB a second of call audio."""
    frames = np.sin(np.arange(int(rate * seconds)) * (2 * np.pi * 440 / rate)).astype("<f4") * 0.5
    payload = np.repeat(frames, channels).tobytes()
    fmt = struct.pack("<HHIIHH", 3, channels, rate, rate * channels * 4, channels * 4, 32)
    return (b"RIFF" + struct.pack("<I", 4 + 8 + 16 + 8 + len(payload)) + b"WAVE" + b"fmt "
            + struct.pack("<I", 16) + fmt + b"data" + struct.pack("<I", len(payload)) + payload)  # fmt: skip


def test_a_large_file_is_decoded_in_bounded_memory(served):
    server, twilio, app, _spoken = served
    big = float_wav(80.0)  # 30 MB of file, 1.3 MB of call audio
    app.route("/big.wav", lambda _hit: Response(big, media_type="audio/wav"))
    doc = VoiceResponse()
    doc.play(app.url("/big.wav"))
    assert server.proc is not None
    before = peak_rss_kb(server.proc.pid)
    # 0160 answers and hangs up 5 s later: the file is fetched, decoded and playing by then.
    call = twilio.calls.create(to="+14155550160", from_=FROM, url=app.route("/play-big", str(doc)),
                               status_callback=app.url("/status-big"))  # fmt: skip
    _completed(app, "/status-big", call.sid)
    grown_mb = (peak_rss_kb(server.proc.pid) - before) / 1024
    assert app.on("/big.wav")
    assert not twilio.calls(call.sid).notifications.list(), "the file was played"
    # On disk while it downloads, decoded a block at a time: decoding it whole in floating point
    # would take several times its 30 MB.
    assert grown_mb < 32, f"the server's peak memory grew by {grown_mb:.0f} MB"


def test_a_say_too_long_is_cut_and_spoken_in_bounded_pieces(served):
    server, twilio, app, spoken = served
    # 57 KB, under the 64 KB of a document; every sentence its own, so no piece is the cache's
    text = "".join(f"Sentence {i} is spoken a piece at a time. " for i in range(1300))
    doc = VoiceResponse()
    doc.say(text)
    said_before = len(_lines(spoken))
    call = twilio.calls.create(to=ANSWERS, from_=FROM, url=app.route("/long-say", str(doc)),
                               status_callback=app.url("/status-long-say"))  # fmt: skip
    try:
        # espeak-ng was given the first piece, and the next one while the first plays.
        _until(lambda: len(_lines(spoken)) >= said_before + 2)
    finally:
        _hang_up(twilio, call.sid)
    _completed(app, "/status-long-say", call.sid)
    lengths = [int(n) for n in _lines(spoken)[said_before:]]
    assert max(lengths) <= PIECE_CHARS, f"espeak-ng was given {max(lengths)} characters at once"
    notes = twilio.calls(call.sid).notifications.list()
    assert [(n.error_code, n.log) for n in notes] == [("13521", "1")]
    assert re.search(
        rf"is {len(text.strip())} characters; the limit for this voice is 4096: the first 40\d\d are spoken",
        _message(notes[0]),
    )


def test_a_redirect_loop_is_paced_and_ends_the_call_with_14106(served):
    server, twilio, app, _spoken = served
    doc = VoiceResponse()
    doc.redirect("/loop")
    call = twilio.calls.create(to=ANSWERS, from_=FROM, url=app.route("/loop", str(doc)),
                               status_callback=app.url("/status-loop"))  # fmt: skip
    _completed(app, "/status-loop", call.sid)
    fetched = _fetches(app, "/loop", call.sid)
    assert len(fetched) == MAX_IDLE_DOCUMENTS
    paced = fetched[-1].at - fetched[0].at
    assert paced > 0.1 * (MAX_IDLE_DOCUMENTS - 11), "after the first ten, at most ten a second"
    notes = twilio.calls(call.sid).notifications.list()
    assert [(n.error_code, n.log, n.request_url) for n in notes] == [("14106", "0", app.url("/loop"))]
    assert "Document retrieval limit reached: 50 documents in a row played nothing" in _message(notes[0])


def test_a_loop_that_plays_something_each_time_goes_on(served):
    server, twilio, app, _spoken = served
    app.route("/blip.wav", lambda _hit: Response(blip_wav(), media_type="audio/wav"))
    doc = VoiceResponse()
    doc.play(app.url("/blip.wav"))
    doc.redirect("/playing-loop")
    call = twilio.calls.create(to=ANSWERS, from_=FROM, url=app.route("/playing-loop", str(doc)),
                               status_callback=app.url("/status-playing-loop"))  # fmt: skip
    try:
        app.wait_for(lambda _hits: len(_fetches(app, "/playing-loop", call.sid)) > MAX_IDLE_DOCUMENTS + 5)
    finally:
        _hang_up(twilio, call.sid)
    _completed(app, "/status-playing-loop", call.sid)
    assert not [n for n in twilio.calls(call.sid).notifications.list() if n.error_code == "14106"]
