"""The call engine end to end, as a SignalWire user sees it.

The SignalWire SDK (`signalwire.rest.Client`, project id + API token) creates calls on a `callgate
serve` that runs them; the sandbox phone network answers (or not); a real web app on loopback serves
LaML built with `signalwire.voice_response.VoiceResponse` and receives the status callbacks, and every
webhook it receives must verify with `signalwire.request_validator.RequestValidator` keyed with the
project's API token (Callgate signs SignalWire webhooks with it: webhooks/signature.py).

What SignalWire sends, and so what is asserted here (Callgate's sources are quoted in
dialects/twilio/webhook.py): the "Voice status callback" page of the Compatibility API (CallSid the
call's UUID, AccountSid the project id, CallbackSource, Timestamp, SequenceNumber; CallDuration "only
present on the completed event"; the SIP code as SipResultCode), the "Voice XML" request parameters
(no Called/Caller, no geography), and the Server SDK "Webhook signature validation" page (the
signature in X-SignalWire-Signature, X-Twilio-Signature accepted as an alias for Compatibility
callbacks).
"""

from __future__ import annotations

import json
import re
import secrets
import time
import uuid
from collections.abc import Iterator
from dataclasses import replace
from email.utils import parsedate_to_datetime
from typing import Any

import pytest
from engine_support import WAIT_S, EngineServer, Hit, Reply, VoiceApp, tone_wav, verify
from signalwire.voice_response import Gather, VoiceResponse
from support import PG, Account, psql, sw_client

FROM = "+14155550199"
EVENTS = ["initiated", "ringing", "answered", "completed"]
RFC2822 = re.compile(r"(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} \+0000")
# What the Twilio face adds and the SignalWire one must not: Twilio's names and its geography block.
TWILIO_ONLY = {"SipResponseCode", "Duration", "Called", "Caller", "CalledCountry", "CallerCountry"}
GEOGRAPHY = re.compile(r"(Called|Caller|From|To)(City|State|Zip|Country)")
# The standard request parameters of every voice webhook.
STANDARD = ("CallSid", "AccountSid", "From", "To", "CallStatus", "ApiVersion", "Direction")


@pytest.fixture(
    scope="module",
    params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)],
)
def engine(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Account]:
    """A `callgate serve` with the worker on, per back-end, and one account on it."""
    backend: str = request.param
    workdir = tmp_path_factory.mktemp(f"engine-{backend}")
    database = None
    if backend == "sqlite":
        db_url = f"sqlite:///{(workdir / 'cg.db').resolve()}"
    else:
        database = f"cg_sw_engine_{secrets.token_hex(6)}"
        psql(f"CREATE DATABASE {database}")
        db_url = f"postgresql://{PG['user']}@{PG['host']}:{PG['port']}/{database}"
    server = EngineServer(backend, db_url, workdir)
    try:
        account = Account(server, server.create_account("sw-engine"))
        server.start()
        yield account
    finally:
        server.stop()
        if database is not None:
            psql(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")


@pytest.fixture
def client(engine: Account) -> Any:
    return sw_client(engine.server, engine.project_id, engine.api_token)


@pytest.fixture
def app(engine: Account) -> Iterator[VoiceApp]:
    """The user's app, one per test. After the test, every webhook it received must have verified."""
    with VoiceApp({engine.signing_key}) as voice_app:
        yield voice_app
        unsigned = [(h.method, h.path) for h in voice_app.hits if not h.media and h.verified_by is None]
        assert not unsigned, f"webhooks that do not verify with the SDK's RequestValidator: {unsigned}"


WAV_HEADER_BYTES = 44


def laml(*steps: str) -> str:
    doc = VoiceResponse()
    for step in steps:
        if step == "hangup":
            doc.hangup()
        else:
            doc.say(step)
    return str(doc)


def assert_signed(hit: Hit, account: Account) -> None:
    """Signed with the project's Signing Key, in X-SignalWire-Signature; X-Twilio-Signature, if sent, the
    same."""
    assert hit.signature, f"{hit.method} {hit.path} has no X-SignalWire-Signature"
    assert account.signing_key.startswith("PSK_")
    assert hit.verified_by == account.signing_key
    assert hit.headers.get("x-twilio-signature", hit.signature) == hit.signature
    # The check can fail: another key (the API token), or a parameter changed on the way, is refused.
    assert not verify(account.api_token, hit)
    if hit.method == "POST":
        tampered = replace(hit, params={**hit.params, "CallSid": str(uuid.uuid4())})
        assert not verify(account.signing_key, tampered)


def assert_standard(hit: Hit, account: Account, call_sid: str, to: str) -> None:
    """The cXML request parameters, SignalWire's way: UUID sids, no Twilio-only parameters."""
    params = hit.params
    assert all(name in params for name in STANDARD), sorted(params)
    assert params["CallSid"] == call_sid == str(uuid.UUID(call_sid))
    assert params["AccountSid"] == account.project_id
    assert params["To"] == to and params["From"] == FROM
    assert params["ApiVersion"] == "2010-04-01" and params["Direction"] == "outbound-api"
    assert not TWILIO_ONLY & params.keys(), sorted(TWILIO_ONLY & params.keys())
    assert not [name for name in params if GEOGRAPHY.fullmatch(name)], sorted(params)


def test_say_play_pause_completes_with_four_status_callbacks(client, app, engine):
    doc = VoiceResponse()
    doc.say("Hello from Callgate")
    doc.play(app.route("/tone.wav", lambda _hit: Reply(tone_wav(), content_type="audio/wav"), media=True))
    doc.pause(length=1)
    call = client.calls.create(
        to="+14155550100",
        from_=FROM,
        url=app.route("/voice", str(doc)),
        status_callback=app.url("/status"),
        status_callback_event=EVENTS,
    )
    final = app.wait_final("/status", call.sid)
    # Callbacks go out concurrently, so they may arrive out of order: SequenceNumber gives the order.
    hits = sorted(app.calls_to("/status", call.sid), key=lambda h: int(h.params["SequenceNumber"]))
    assert [h.params["SequenceNumber"] for h in hits] == ["0", "1", "2", "3"]
    assert [h.params["CallStatus"] for h in hits] == ["initiated", "ringing", "in-progress", "completed"]
    assert hits[-1] is final
    stamps = [parsedate_to_datetime(h.params["Timestamp"]) for h in hits]
    assert stamps == sorted(stamps)
    for hit in hits:
        assert hit.method == "POST"
        assert_signed(hit, engine)
        assert_standard(hit, engine, call.sid, "+14155550100")
        assert hit.params["CallbackSource"] == "call-progress-events"
        assert RFC2822.fullmatch(hit.params["Timestamp"]), hit.params["Timestamp"]
    for hit in hits[:-1]:
        assert "CallDuration" not in hit.params and "SipResultCode" not in hit.params
    assert final.params["SipResultCode"] == "200"
    assert int(final.params["CallDuration"]) >= 2, "Say, a 0.5 s tone and a 1 s Pause were played"
    if "AudioInMos" in final.params:
        assert 1.0 <= float(final.params["AudioInMos"]) <= 5.0
    # The document was fetched once, signed, with the call's parameters; then the audio file.
    (fetch,) = app.calls_to("/voice", call.sid)
    assert fetch.method == "POST" and fetch.params["CallStatus"] == "in-progress"
    assert_signed(fetch, engine)
    assert_standard(fetch, engine, call.sid, "+14155550100")
    assert [h.method for h in app.hits if h.path == "/tone.wav"][:1] == ["GET"]
    fetched = client.calls(call.sid).fetch()
    assert fetched.status == "completed" and fetched.account_sid == engine.project_id
    assert fetched.start_time is not None and fetched.end_time is not None
    assert int(fetched.duration) == int(final.params["CallDuration"])


def test_gather_action_gets_the_digits(client, app, engine):
    doc = VoiceResponse()
    gather = Gather(action=app.url("/gathered"), method="POST", timeout=10, finish_on_key="#")
    gather.say("Please enter your code")
    doc.append(gather)
    doc.say("We did not get anything")
    app.route("/gathered", laml("Thank you", "hangup"))
    # The document is fetched with GET: its parameters in the query string, signed with the URL alone.
    call = client.calls.create(to="+14155550101", from_=FROM, url=app.route("/voice", str(doc)), method="GET")
    (action,) = app.wait_call("/gathered", call.sid)
    assert action.method == "POST"
    assert action.params["Digits"] == "1234"
    assert_signed(action, engine)
    assert_standard(action, engine, call.sid, "+14155550101")
    (fetch,) = app.calls_to("/voice", call.sid)
    assert fetch.method == "GET" and not fetch.body
    assert_signed(fetch, engine)


@pytest.mark.parametrize(
    ("number", "status", "sip"),
    [("+14155550120", "busy", "486"), ("+14155550150", "failed", "404")],
)
def test_unanswered_outcomes(client, app, engine, number, status, sip):
    call = client.calls.create(
        to=number, from_=FROM, url=app.url("/never"), status_callback=app.url("/status")
    )
    final = app.wait_final("/status", call.sid)
    assert_signed(final, engine)
    assert_standard(final, engine, call.sid, number)
    assert final.params["CallStatus"] == status
    assert final.params["SipResultCode"] == sip
    assert "CallDuration" not in final.params, "CallDuration is only on a completed call"
    assert [h.params["CallStatus"] for h in app.calls_to("/status", call.sid)] == [status]
    assert client.calls(call.sid).fetch().status == status
    assert not app.calls_to("/never", call.sid), "no document is fetched for a call nobody answered"


def test_no_answer_after_the_timeout(client, app, engine):
    call = client.calls.create(
        to="+14155550130", from_=FROM, url=app.url("/never"), timeout=2, status_callback=app.url("/status")
    )
    final = app.wait_final("/status", call.sid)
    assert_signed(final, engine)
    assert final.params["CallStatus"] == "no-answer"
    assert final.params["SipResultCode"] == "487"
    assert "CallDuration" not in final.params
    assert client.calls(call.sid).fetch().status == "no-answer"
    assert not app.calls_to("/never", call.sid)


def test_cancel_a_ringing_call(client, app, engine):
    call = client.calls.create(
        to="+14155550130",
        from_=FROM,
        url=app.url("/never"),
        status_callback=app.url("/status"),
        status_callback_event=["ringing", "completed"],
    )
    (ringing,) = app.wait_call("/status", call.sid)
    assert ringing.params["CallStatus"] == "ringing" and ringing.params["SequenceNumber"] == "0"
    assert client.calls(call.sid).update(status="canceled").status == "canceled"
    final = app.wait_final("/status", call.sid)
    assert_signed(final, engine)
    assert final.params["CallStatus"] == "canceled"
    assert final.params["SequenceNumber"] == "1"
    assert "CallDuration" not in final.params
    assert client.calls(call.sid).fetch().status == "canceled"
    assert not app.calls_to("/never", call.sid)


@pytest.mark.parametrize("markup_param", ["Laml", "Twiml"])
def test_an_inline_document_runs(client, app, engine, markup_param):
    """`Laml` (SignalWire's name; the SDK has no argument for it, so it goes through the SDK's own
    authenticated `request`) and `Twiml` (the SDK's `twiml=`) both carry the document inline."""
    doc = VoiceResponse()
    doc.say("Inline")
    doc.redirect(app.url("/after"))
    app.route("/after", laml("hangup"))
    if markup_param == "Laml":
        response = client.request(
            "POST",
            f"{engine.server.base_url}/api/laml/2010-04-01/Accounts/{engine.project_id}/Calls.json",
            data={"To": "+14155550100", "From": FROM, "Laml": str(doc), "StatusCallback": app.url("/status")},
        )
        assert response.status_code in (200, 201), response.text
        call_sid = str(json.loads(response.text)["sid"])
    else:
        call_sid = client.calls.create(
            to="+14155550100", from_=FROM, twiml=str(doc), status_callback=app.url("/status")
        ).sid
    (after,) = app.wait_call("/after", call_sid)
    assert after.method == "POST" and after.params["CallStatus"] == "in-progress"
    assert_signed(after, engine)
    assert_standard(after, engine, call_sid, "+14155550100")
    final = app.wait_final("/status", call_sid)
    assert final.params["CallStatus"] == "completed" and final.params["SipResultCode"] == "200"
    assert_signed(final, engine)


def test_webhooks_are_signed_with_a_signing_key_not_the_api_token(client, app, engine):
    call = client.calls.create(
        to="+14155550120", from_=FROM, twiml=laml("hangup"), status_callback=app.url("/status")
    )
    final = app.wait_final("/status", call.sid)
    assert final.signature
    assert not verify(engine.api_token, final), "the API token verifies the webhook's signature"
    assert verify(engine.signing_key, final)


def test_a_recording_started_and_stopped_through_the_api(client, app, engine):
    doc = VoiceResponse()
    doc.say("This call is being recorded", loop=0)
    call = client.calls.create(
        to="+14155550190",
        from_=FROM,
        url=app.route("/voice", str(doc)),
        status_callback=app.url("/status"),
        status_callback_event=["answered", "completed"],
    )
    app.wait_call("/status", call.sid)  # answered
    started = client.calls(call.sid).recordings.create(
        recording_status_callback=app.url("/recording"),
        recording_status_callback_event=["in-progress", "completed"],
    )
    assert started.sid == str(uuid.UUID(started.sid)) and started.status == "in-progress"
    assert started.call_sid == call.sid and started.source == "StartCallRecordingAPI"
    (began,) = app.wait_call("/recording", call.sid)
    assert began.params["RecordingStatus"] == "in-progress" and began.params["RecordingSid"] == started.sid
    assert_signed(began, engine)
    # Stopped before its first frame, a recording is `absent` (nothing recorded), not `completed`:
    # stop it once audio has reached its file, however slowly the machine runs.
    wav = engine.server.workdir / "recordings" / f"{started.sid}.wav"
    deadline = time.monotonic() + WAIT_S
    while not (wav.exists() and wav.stat().st_size > WAV_HEADER_BYTES):
        assert time.monotonic() < deadline, f"no audio reached {wav}"
        time.sleep(0.02)
    assert client.calls(call.sid).recordings(started.sid).update(status="stopped").status == "stopped"
    _, done = app.wait_call("/recording", call.sid, count=2)
    assert done.params["RecordingStatus"] == "completed" and done.params["RecordingSid"] == started.sid
    assert done.params["RecordingSource"] == "StartCallRecordingAPI"
    assert_signed(done, engine)
    assert client.calls(call.sid).recordings(started.sid).fetch().status == "completed"
    client.calls(call.sid).update(status="completed")
    assert app.wait_final("/status", call.sid).params["CallStatus"] == "completed"


def test_machine_detection_tells_a_person_from_a_machine(client, app, engine):
    app.route("/voice", laml("hangup"))
    person = client.calls.create(to="+14155550100", from_=FROM, url=app.url("/voice"),
                                 machine_detection="Enable", status_callback=app.url("/status"))  # fmt: skip
    machine = client.calls.create(to="+14155550111", from_=FROM, url=app.url("/voice"),
                                  machine_detection="Enable", status_callback=app.url("/status"))  # fmt: skip
    for call, answered_by in ((person, "human"), (machine, "machine_start")):
        (fetched,) = app.wait_call("/voice", call.sid)
        assert fetched.params["AnsweredBy"] == answered_by
        assert_signed(fetched, engine)
        assert_standard(fetched, engine, call.sid, call.to)
        assert app.wait_final("/status", call.sid).params["AnsweredBy"] == answered_by
        assert client.calls(call.sid).fetch().answered_by == answered_by
