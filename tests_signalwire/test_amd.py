"""Answering-machine detection through the SignalWire face, end to end: SignalWire's own
MachineWordsThreshold and AsyncAmdPartialResults, and the AsyncAmdStatusCallback of a call that ends
before detection has decided.

The SignalWire SDK's `calls.create` (twilio 6.54 underneath) has neither of SignalWire's two
parameters, so the Create Call request is posted as the Compatibility API page documents it; the SDK
reads the call back. The far ends are scripted sandbox phones (a phone book): "words" are bursts of
noise cut apart by silence, as speech is to a detector that listens to levels (noise, unlike a tone,
is never taken for a beep).
"""

from __future__ import annotations

import io
import random
import struct
import wave
from collections.abc import Iterator

import pytest
from engine_support import Hit, PhoneBookServer, VoiceApp, tone_wav
from signalwire.voice_response import VoiceResponse
from support import Account

FROM = "+14155550199"
WORDS = "+14155550881"  # answers, says three words (0.3 s each, 0.3 s apart), then stays silent
MACHINE = "+14155550882"  # answers, a greeting of eight words, a beep, then silence
SILENT = "+14155550190"  # the sandbox's phone that answers and never makes a sound
PHONES = f"""
[[phones]]
number = "{WORDS}"
steps = [{{ ring = 1 }}, "answer", {{ play = "three-words.wav" }}, {{ wait = 60 }}]

[[phones]]
number = "{MACHINE}"
steps = [{{ ring = 1 }}, "answer", {{ play = "greeting.wav" }}, {{ play = "beep.wav" }}, {{ wait = 60 }}]
"""


def words_wav(count: int, word_s: float = 0.3, pause_s: float = 0.3, rate_hz: int = 8000) -> bytes:
    """`count` bursts of noise (loud enough for speech), `pause_s` of silence between them."""
    noise = random.Random(18)
    samples: list[int] = []
    for i in range(count):
        if i:
            samples += [0] * int(pause_s * rate_hz)
        samples += [int(max(-32767, min(32767, noise.gauss(0, 4000)))) for _ in range(int(word_s * rate_hz))]
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate_hz)
        w.writeframes(struct.pack(f"<{len(samples)}h", *samples))
    return out.getvalue()


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Account]:
    workdir = tmp_path_factory.mktemp("sw-amd")
    (workdir / "phones.toml").write_text(PHONES)
    (workdir / "three-words.wav").write_bytes(words_wav(3))
    (workdir / "greeting.wav").write_bytes(words_wav(8))
    (workdir / "beep.wav").write_bytes(tone_wav(1.0, 1000.0))
    server = PhoneBookServer("sqlite", f"sqlite:///{(workdir / 'cg.db').resolve()}", workdir)
    try:
        account = Account(server, server.create_account("sw-amd"))
        server.start()
        yield account
    finally:
        server.stop()


@pytest.fixture
def app(engine: Account) -> Iterator[VoiceApp]:
    with VoiceApp({engine.signing_key}) as voice_app:
        yield voice_app
        unsigned = [(h.method, h.path) for h in voice_app.hits if not h.media and h.verified_by is None]
        assert not unsigned, f"webhooks that do not verify with the SDK's RequestValidator: {unsigned}"


def create(engine: Account, app: VoiceApp, to: str, url: str, **params: str) -> str:
    """Create Call on the SignalWire face, as its page documents the parameters; the call's sid."""
    form = {"To": to, "From": FROM, "Url": url, "StatusCallback": app.url("/status"), **params}
    response = engine.laml.post("/Calls.json", form)
    assert response.status_code == 200, response.text  # the seed documents 200
    return str(response.json()["sid"])


def hang_up_after(seconds: int) -> str:
    doc = VoiceResponse()
    doc.pause(length=seconds)
    doc.hangup()
    return str(doc)


def amd_requests(app: VoiceApp, sid: str) -> list[Hit]:
    return app.calls_to("/amd", sid)


def test_a_greeting_that_reaches_the_words_threshold_is_a_machine(engine, app):
    app.route("/answered", hang_up_after(1))
    # Three words in 1.5 s: short of the speech threshold (2.4 s), so a person by its length alone.
    url = app.url("/answered")
    three = create(engine, app, WORDS, url, MachineDetection="Enable", MachineWordsThreshold="3")
    four = create(engine, app, WORDS, url, MachineDetection="Enable", MachineWordsThreshold="4")
    (machine,) = app.wait_call("/answered", three)
    (person,) = app.wait_call("/answered", four)
    assert machine.params["AnsweredBy"] == "machine_start"
    assert person.params["AnsweredBy"] == "human"
    app.wait_final("/status", three)
    app.wait_final("/status", four)
    client = engine.client()
    assert client.calls(three).fetch().answered_by == "machine_start"
    assert client.calls(four).fetch().answered_by == "human"


def test_partial_results_report_the_machine_before_the_end_of_its_greeting(engine, app):
    app.route("/going", hang_up_after(20))
    amd = dict(MachineDetection="DetectMessageEnd", AsyncAmd="true", AsyncAmdStatusCallback=app.url("/amd"))
    partial = create(engine, app, MACHINE, app.url("/going"), AsyncAmdPartialResults="true", **amd)
    final_only = create(engine, app, MACHINE, app.url("/going"), **amd)
    interim, final = app.wait_call("/amd", partial, count=2)
    assert interim.params["AnsweredBy"] == "machine_start"
    assert final.params["AnsweredBy"] == "machine_end_beep"
    assert int(interim.params["MachineDetectionDuration"]) < int(final.params["MachineDetectionDuration"])
    assert interim.verified_by == final.verified_by == engine.signing_key
    (only,) = app.wait_call("/amd", final_only)
    assert only.params["AnsweredBy"] == "machine_end_beep"
    client = engine.client()
    # The call's answered_by is the final result, not the interim one.
    assert client.calls(partial).fetch().answered_by == "machine_end_beep"
    for sid in (partial, final_only):
        client.calls(sid).update(status="completed")
        app.wait_final("/status", sid)
    assert [h.params["AnsweredBy"] for h in amd_requests(app, final_only)] == ["machine_end_beep"]


def test_a_call_that_ends_before_detection_decides_reports_unknown(engine, app):
    app.route("/short", hang_up_after(1))  # 1 s of silence: detection waits 5 s for a voice
    sid = create(engine, app, SILENT, app.url("/short"), MachineDetection="Enable", AsyncAmd="true",
                 AsyncAmdStatusCallback=app.url("/amd"))  # fmt: skip
    (amd,) = app.wait_call("/amd", sid)
    assert amd.params["AnsweredBy"] == "unknown"
    assert amd.params["CallSid"] == sid and amd.params["AccountSid"] == engine.project_id
    final = app.wait_final("/status", sid)
    assert final.params["AnsweredBy"] == "unknown"
    assert engine.client().calls(sid).fetch().answered_by == "unknown"
