"""The engine end to end against real SIP peers instead of the sandbox: the twilio SDK creates calls on
`callgate serve` with a `sip:` To, Callgate dials SIPp (sip-tester) or baresip on loopback directly,
and a real web app serves the TwiML and receives the signed status callbacks.

The far end's side is checked by the peer itself (a SIPp scenario exits 0 only if every message it
expects came, in order) and, for media, by what Callgate measured (the `quality` it stores) or what
baresip reports over its control socket. Everything waits on events under a deadline.
"""

from __future__ import annotations

import asyncio
import io
import json
import re
import shutil
import socket
import sqlite3
import subprocess
import time
import wave
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from starlette.responses import Response
from twilio.rest import Client
from twilio.twiml.voice_response import Gather, VoiceResponse

from callgate.telephony.aio.tts import Speaker
from tests.engine.server import Serve
from tests.engine.webapp import Hit, WebApp
from tests.telephony.aio.peers import SCENARIOS as AIO_SCENARIOS
from tests.telephony.aio.peers import (
    Sipp,
    free_media_port,
    free_sip_port,
    free_tcp_port,
    wait_for_sip,
)

pytestmark = [pytest.mark.sdk, pytest.mark.slow, pytest.mark.interop]

SCENARIOS = Path(__file__).parent / "scenarios"
FROM = "+14155550199"
EVENTS = ["initiated", "ringing", "answered", "completed"]
PROGRESS = ("initiated", "ringing", "in-progress")


@pytest.fixture(scope="module")
def webapp() -> Iterator[WebApp]:
    app = WebApp().start()
    yield app
    app.stop()


@pytest.fixture(scope="module")
def serve(tmp_path_factory: pytest.TempPathFactory, webapp: WebApp) -> Iterator[tuple[Serve, dict, Path]]:
    workdir = tmp_path_factory.mktemp("serve")
    db = workdir / "callgate.db"
    server = Serve(f"sqlite:///{db}", workdir)
    account = server.create_account()
    webapp.tokens.add(account["twilio"]["auth_token"])
    server.start()
    yield server, account, db
    server.stop()


@pytest.fixture
def twilio(serve: tuple[Serve, dict, Path]) -> Client:
    server, account, _ = serve
    client = Client(account["twilio"]["account_sid"], account["twilio"]["auth_token"])
    client.api.base_url = server.base_url
    return client


def sipp(scenario: Path, workdir: Path, *args: str) -> Sipp:
    """SIPp as the far end, with its media on a port of its own (never SIPp's default 6000)."""
    return Sipp(["-sf", str(scenario), "-mi", "127.0.0.1", "-mp", str(free_media_port()), *args], workdir)


def callbacks(hits: list[Hit], path: str, sid: str) -> list[Hit]:
    return [h for h in hits if h.path == path and h.params.get("CallSid") == sid]


def wait_final(webapp: WebApp, path: str, sid: str, timeout: float = 20) -> Hit:
    """The call's last status callback (its CallStatus is terminal)."""
    found = webapp.wait_for(
        lambda hits: [h for h in callbacks(hits, path, sid) if h.params["CallStatus"] not in PROGRESS],
        timeout=timeout,
    )
    return found[0]  # type: ignore[no-any-return]


def stored_quality(db: Path, to: str) -> dict[str, Any]:
    """The audio quality Callgate stored for the call to `to` (each test's peer has its own port)."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10) as conn:
        (row,) = conn.execute("SELECT quality FROM calls WHERE to_addr = ?", (to,)).fetchall()
    quality: dict[str, Any] = json.loads(row[0]) if isinstance(row[0], str) else row[0]
    return quality


def say_and_hang_up(text: str, voice: str = "man") -> str:
    doc = VoiceResponse()
    doc.say(text, voice=voice)
    doc.hangup()
    return str(doc)


def speech_ms(text: str, voice: str = "man") -> int:
    """How long Callgate's <Say> of `text` plays: the same espeak-ng rendering, 8000 samples a second."""
    return len(asyncio.run(Speaker().speak(text, voice))) // 8


def sipp_log_times(workdir: Path) -> dict[str, int]:
    """The "<what> at <ms>" lines a scenario logged (-trace_logs), by what."""
    (log,) = workdir.glob("*_logs.log")
    return {m[1]: int(m[2]) for m in re.finditer(r"(\w+) at (\d+)", log.read_text())}


def test_answered_call_runs_the_document_and_callgate_hangs_up_after_it(twilio, webapp, serve, tmp_path):
    _, _, db = serve
    text = "Your order has shipped and will arrive on Tuesday afternoon."
    far = sipp(SCENARIOS / "uas_answers.xml", tmp_path, "-rtp_echo", "-trace_logs")
    call = twilio.calls.create(to=far.target, from_=FROM, twiml=say_and_hang_up(text),
                               status_callback=webapp.url("/status-answered"),
                               status_callback_event=EVENTS)  # fmt: skip
    final = wait_final(webapp, "/status-answered", call.sid)
    assert far.wait() == 0, "SIPp saw the INVITE, the ACK and a BYE, in order"
    hits = callbacks(webapp.hits, "/status-answered", call.sid)
    assert [h.params["CallStatus"] for h in hits] == ["initiated", "ringing", "in-progress", "completed"]
    assert all(h.signature_ok for h in hits)
    assert all(h.params["To"] == far.target and h.params["From"] == FROM for h in hits)
    assert final.params["SipResponseCode"] == "200"
    # The BYE came from Callgate once the <Say> had played out, not before: SIPp's own clock.
    times = sipp_log_times(tmp_path)
    assert times["BYE"] - times["ACK"] >= speech_ms(text) - 100
    assert int(final.params["CallDuration"]) >= 2
    fetched = twilio.calls(call.sid).fetch()
    assert fetched.status == "completed" and fetched.duration == final.params["CallDuration"]
    # Media flowed both ways: SIPp echoed what Callgate sent to the SDP's address back to it, so
    # Callgate measured a received stream (with none, it stores no quality at all).
    assert stored_quality(db, far.target)["audio_in_mos"] is not None


@pytest.mark.parametrize(
    ("status", "reason", "call_status"),
    [
        (486, "Busy Here", "busy"),
        (600, "Busy Everywhere", "busy"),
        (603, "Decline", "busy"),
        (404, "Not Found", "failed"),
        (500, "Server Internal Error", "failed"),
    ],
)
def test_a_refusal_ends_the_call_with_its_status(twilio, webapp, tmp_path, status, reason, call_status):
    scenario = tmp_path / f"rejects_{status}.xml"
    template = (SCENARIOS / "rejects.xml").read_text()
    scenario.write_text(template.replace("[status]", str(status)).replace("[reason]", reason))
    far = sipp(scenario, tmp_path)
    path = f"/status-refused-{status}"
    call = twilio.calls.create(to=far.target, from_=FROM, url=webapp.url("/never"),
                               status_callback=webapp.url(path))  # fmt: skip
    final = wait_final(webapp, path, call.sid)
    assert far.wait() == 0, f"Callgate ACKed the {status}"
    assert final.params["CallStatus"] == call_status
    assert final.params["SipResponseCode"] == str(status)
    assert final.params["CallDuration"] == "0"
    assert twilio.calls(call.sid).fetch().status == call_status
    assert not webapp.on("/never"), "no document is fetched for a call nobody answered"


def test_ringing_past_the_timeout_is_canceled_as_no_answer(twilio, webapp, tmp_path):
    far = sipp(AIO_SCENARIOS / "ring_forever.xml", tmp_path)
    started = time.monotonic()
    call = twilio.calls.create(to=far.target, from_=FROM, url=webapp.url("/never"), timeout=2,
                               status_callback=webapp.url("/status-ringing"),
                               status_callback_event=EVENTS)  # fmt: skip
    final = wait_final(webapp, "/status-ringing", call.sid)
    assert far.wait() == 0, "SIPp got a CANCEL, answered 487, and got the ACK of its 487"
    assert 2 <= final.at - started < 10
    statuses = [h.params["CallStatus"] for h in callbacks(webapp.hits, "/status-ringing", call.sid)]
    assert statuses == ["initiated", "ringing", "no-answer"]
    assert final.params["SipResponseCode"] == "487"
    assert twilio.calls(call.sid).fetch().status == "no-answer"


@pytest.mark.parametrize(
    ("credentials", "call_status", "sip"),
    [
        (("alice", "secret"), "completed", "200"),
        (("alice", "wrong"), "failed", "403"),
        (None, "failed", "401"),
    ],
    ids=["right-password", "wrong-password", "no-credentials"],
)
def test_a_digest_challenge_is_answered_with_the_calls_credentials(
    twilio, webapp, tmp_path, credentials, call_status, sip
):
    far = sipp(SCENARIOS / "digest_401.xml", tmp_path)
    auth = {"sip_auth_username": credentials[0], "sip_auth_password": credentials[1]} if credentials else {}
    path = f"/status-digest-{sip}"
    call = twilio.calls.create(to=far.target, from_=FROM, twiml=say_and_hang_up("Hi"),
                               status_callback=webapp.url(path), **auth)  # fmt: skip
    final = wait_final(webapp, path, call.sid)
    assert final.params["CallStatus"] == call_status
    assert final.params["SipResponseCode"] == sip
    if credentials is None:
        # No credentials: the 401 is the final answer; SIPp still waits for a second INVITE.
        far.proc.kill()
        far.wait()
    else:
        assert far.wait() == 0, "SIPp checked the digest (verifyauth), then got ACK and BYE (or ACK of 403)"


def test_the_far_end_hanging_up_ends_the_call_at_once(twilio, webapp, tmp_path):
    far = sipp(SCENARIOS / "hangs_up.xml", tmp_path)
    doc = VoiceResponse()
    doc.say("Please hold", voice="man")
    doc.pause(length=30)
    doc.redirect(webapp.url("/after-the-pause"))
    started = time.monotonic()
    call = twilio.calls.create(to=far.target, from_=FROM, twiml=str(doc),
                               status_callback=webapp.url("/status-far-bye"))  # fmt: skip
    final = wait_final(webapp, "/status-far-bye", call.sid)
    assert far.wait() == 0, "Callgate answered SIPp's BYE with 200"
    assert final.params["CallStatus"] == "completed" and final.params["SipResponseCode"] == "200"
    assert final.at - started < 10, "the 30 s <Pause> was cut short by the BYE"
    assert int(final.params["CallDuration"]) < 5
    assert not webapp.on("/after-the-pause"), "nothing after the hang-up runs"
    assert twilio.calls(call.sid).fetch().status == "completed"


def wait_listening(address: tuple[str, int]) -> None:
    """SIPp over TCP listens a moment after it starts (a refused connection would fail the call)."""
    deadline = time.monotonic() + 10
    while True:
        with socket.socket() as probe:
            if probe.connect_ex(address) == 0:
                return
        assert time.monotonic() < deadline, f"nothing listens on {address}"
        time.sleep(0.05)  # polling the port under a deadline


def test_a_180_and_200_that_arrive_together_still_report_ringing(twilio, webapp, tmp_path):
    """A phone that answers as it rings (one TCP segment holds the 180 and the 200, so Callgate reads
    them in the same loop turn) still rang: the application that asked for `ringing` gets it."""
    far = Sipp(["-sf", str(SCENARIOS / "rings_and_answers_at_once.xml")], tmp_path, tcp=True)
    wait_listening(far.destination)
    call = twilio.calls.create(to=f"{far.target};transport=tcp", from_=FROM,
                               twiml="<Response><Hangup/></Response>",
                               status_callback=webapp.url("/status-at-once"),
                               status_callback_event=EVENTS)  # fmt: skip
    final = wait_final(webapp, "/status-at-once", call.sid)
    assert far.wait() == 0, "SIPp sent 180 and 200, got the ACK and the BYE"
    assert final.params["CallStatus"] == "completed"
    statuses = [h.params["CallStatus"] for h in callbacks(webapp.hits, "/status-at-once", call.sid)]
    assert statuses == ["initiated", "ringing", "in-progress", "completed"]


# baresip as the far end, driven over its control socket


def _netstring(data: bytes) -> bytes:
    return str(len(data)).encode() + b":" + data + b","


class Softphone:
    """baresip answering automatically, driven over its `ctrl_tcp` socket: netstring-framed JSON
    commands (`{"command": "sndcode", "params": "1234"}` presses keys as RFC 4733 events) and, on
    the same socket, its call events (CALL_ESTABLISHED, CALL_CLOSED, ...)."""

    def __init__(self, workdir: Path) -> None:
        if shutil.which("baresip") is None:
            pytest.fail("baresip is not installed: `make test` installs Debian's baresip")
        self.port, control = free_sip_port(), free_tcp_port()
        config = workdir / "baresip"
        config.mkdir()
        quiet = workdir / "quiet.wav"
        with wave.open(str(quiet), "wb") as w:  # what baresip sends: 30 s of silence
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(8000)
            w.writeframes(bytes(2 * 8000 * 30))
        (config / "config").write_text(
            "module_path /usr/lib/baresip/modules\n"
            f"sip_listen 127.0.0.1:{self.port}\nnet_interface 127.0.0.1\n"
            f"audio_source aufile,{quiet}\naudio_player aubridge,nil\naudio_alert aubridge,nil\n"
            "ausrc_srate 8000\nauplay_srate 8000\nrtp_ports 21000-21999\n"
            "module g711.so\nmodule aufile.so\nmodule aubridge.so\n"
            "module_tmp uuid.so\nmodule_tmp account.so\nmodule_app menu.so\nmodule_app ctrl_tcp.so\n"
            f"ctrl_tcp_listen 127.0.0.1:{control}\n"
        )
        (config / "accounts").write_text(
            f"<sip:callee@127.0.0.1:{self.port}>;regint=0;answermode=auto;audio_codecs=PCMU\n"
        )
        self.log = workdir / "baresip.log"
        self.proc = subprocess.Popen(
            ["baresip", "-f", str(config)], stdin=subprocess.DEVNULL, stdout=self.log.open("wb"),
            stderr=subprocess.STDOUT,
        )  # fmt: skip
        self.target = f"sip:callee@127.0.0.1:{self.port}"
        wait_for_sip(("127.0.0.1", self.port), self.proc, self.log, "baresip")
        self.control = self._connect(control)
        self.messages: list[dict[str, Any]] = []
        self._buffer = b""

    def _connect(self, port: int) -> socket.socket:
        """The control socket; baresip loads `ctrl_tcp` (after the accounts) a moment after SIP is up."""
        deadline = time.monotonic() + 10
        while True:
            try:
                return socket.create_connection(("127.0.0.1", port), timeout=10)
            except ConnectionRefusedError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(
                        f"no baresip control socket: {self.log.read_text()[-2000:]}"
                    ) from None
                time.sleep(0.05)  # polling the port under a deadline

    def command(self, command: str, params: str) -> None:
        self.control.sendall(_netstring(json.dumps({"command": command, "params": params}).encode()))

    def wait_for(self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 15) -> dict[str, Any]:
        """The first message (event or response) that satisfies `predicate`, reading under a deadline."""
        deadline = time.monotonic() + timeout
        seen = 0
        while True:
            for message in self.messages[seen:]:
                if predicate(message):
                    return message
            seen = len(self.messages)
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"baresip did not report it in {timeout} s: {self.messages}")
            self.control.settimeout(left)
            try:
                data = self.control.recv(65536)
            except TimeoutError:
                continue
            if not data:
                raise AssertionError(f"baresip closed its control socket: {self.messages}")
            self._buffer += data
            while (colon := self._buffer.find(b":")) > 0:
                size = int(self._buffer[:colon])
                if len(self._buffer) < colon + size + 2:
                    break
                self.messages.append(json.loads(self._buffer[colon + 1 : colon + 1 + size]))
                self._buffer = self._buffer[colon + size + 2 :]

    def event(self, kind: str, timeout: float = 15) -> dict[str, Any]:
        return self.wait_for(lambda m: bool(m.get("event")) and m.get("type") == kind, timeout)

    def stop(self) -> None:
        self.control.close()
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def tone_wav(seconds: float) -> bytes:
    t = np.arange(int(8000 * seconds)) / 8000
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes((np.sin(2 * np.pi * 440 * t) * 8000).astype("<i2").tobytes())
    return out.getvalue()


@pytest.fixture(scope="module")
def baresip_gather(
    tmp_path_factory: pytest.TempPathFactory, webapp: WebApp, serve: tuple[Serve, dict, Path]
) -> dict[str, Any]:
    """One call answered by baresip: <Gather numDigits="4"> around a <Play> of a 5 s tone; once
    Callgate fetches the tone (so the Gather listens), baresip presses 1234; the action says
    thanks and hangs up."""
    server, account, db = serve
    client = Client(account["twilio"]["account_sid"], account["twilio"]["auth_token"])
    client.api.base_url = server.base_url
    phone = Softphone(tmp_path_factory.mktemp("baresip"))
    try:
        doc = VoiceResponse()
        gather = Gather(num_digits=4, action=webapp.url("/gathered"), method="POST", timeout=10)
        gather.play(webapp.url("/prompt.wav"))
        doc.append(gather)
        doc.say("We did not get your code", voice="man")
        webapp.route("/prompt.wav", lambda hit: Response(tone_wav(5.0), media_type="audio/wav"))
        webapp.route("/gathered", say_and_hang_up("Thank you"))
        call = client.calls.create(to=phone.target, from_=FROM, url=webapp.route("/voice-gather", str(doc)),
                                   status_callback=webapp.url("/status-gather"))  # fmt: skip
        established = phone.event("CALL_ESTABLISHED")
        webapp.wait_hits("/prompt.wav", timeout=15)
        phone.command("sndcode", "1234")
        (gathered,) = [
            h for h in webapp.wait_hits("/gathered", timeout=15) if h.params["CallSid"] == call.sid
        ]
        final = wait_final(webapp, "/status-gather", call.sid)
        closed = phone.event("CALL_CLOSED")
    finally:
        phone.stop()
    return {
        "call": call,
        "established": established,
        "gathered": gathered,
        "final": final,
        "closed": closed,
        "quality": stored_quality(db, phone.target),
        "fetched": client.calls(call.sid).fetch(),
    }


def test_baresip_answers_and_its_keys_reach_the_gather_action(baresip_gather):
    call, gathered, final = baresip_gather["call"], baresip_gather["gathered"], baresip_gather["final"]
    assert baresip_gather["established"]["peeruri"].startswith(f"sip:{FROM}@")
    assert gathered.signature_ok and gathered.method == "POST"
    assert gathered.params["Digits"] == "1234"
    assert final.params["CallStatus"] == "completed" and final.params["SipResponseCode"] == "200"
    # Callgate hung up after the action's document: baresip saw the call closed by the far end's BYE
    # (baresip reports a received BYE as "Connection reset by peer").
    assert baresip_gather["closed"]["id"] == baresip_gather["established"]["id"]
    assert baresip_gather["closed"]["param"] == "Connection reset by peer"
    assert baresip_gather["fetched"].status == "completed" and call.sid == final.params["CallSid"]


def test_keys_pressed_are_not_counted_as_lost_audio(baresip_gather):
    """RFC 4733 2.1, RFC 3550 A.3: telephone-event packets share the audio's SSRC and sequence
    numbers, so they count as received; on loopback nothing is lost and the score stays high."""
    quality = baresip_gather["quality"]
    assert quality["audio_out_lost"] == 0
    assert quality["audio_in_mos"] >= 4.0, "a loopback call without loss scores like one"


def test_send_digits_are_pressed_after_the_answer_before_the_document(twilio, webapp, tmp_path):
    """SendDigits: the keys reach the far end (baresip reports each as a DTMF event) once it answers;
    then the document runs."""
    phone = Softphone(tmp_path)
    try:
        doc = VoiceResponse()
        doc.pause(length=3)
        call = twilio.calls.create(to=phone.target, from_=FROM, twiml=str(doc), send_digits="12w34#",
                                   status_callback=webapp.url("/status-senddigits"))  # fmt: skip
        phone.event("CALL_ESTABLISHED")

        def pressed() -> list[str]:
            return [m.get("param", "") for m in phone.messages if m.get("type") == "CALL_DTMF_START"]

        phone.wait_for(lambda _message: len(pressed()) >= 5)
        assert pressed() == ["1", "2", "3", "4", "#"]
        final = wait_final(webapp, "/status-senddigits", call.sid)
        assert final.params["CallStatus"] == "completed"
    finally:
        phone.stop()
