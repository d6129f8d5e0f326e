"""The engine end to end, as a Twilio user sees it: the twilio SDK creates calls on `callgate serve`,
the sandbox phone network answers (or not), and a real web app serves TwiML built with the SDK and
receives the status callbacks, checking every signature with the SDK's `RequestValidator`."""

from __future__ import annotations

import io
import threading
import time
import wave
from collections.abc import Iterator

import httpx
import numpy as np
import pytest
from starlette.responses import Response
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client
from twilio.twiml.voice_response import Gather, VoiceResponse

from tests.conftest import free_port
from tests.engine.server import Serve
from tests.engine.webapp import WebApp

pytestmark = [pytest.mark.sdk, pytest.mark.slow]

FROM = "+14155550199"
EVENTS = ["initiated", "ringing", "answered", "completed"]


@pytest.fixture(scope="module")
def webapp() -> Iterator[WebApp]:
    app = WebApp().start()
    yield app
    app.stop()


@pytest.fixture(scope="module")
def serve(tmp_path_factory: pytest.TempPathFactory, webapp: WebApp) -> Iterator[tuple[Serve, dict]]:
    workdir = tmp_path_factory.mktemp("serve")
    server = Serve(f"sqlite:///{workdir}/callgate.db", workdir, CALLGATE_WEBHOOK_DELIVERIES="2",
                   CALLGATE_RATES='{"+1": "0.0140", "+1415555012": "0.5000"}')  # fmt: skip
    account = server.create_account()
    webapp.tokens.add(account["twilio"]["auth_token"])
    server.start()
    yield server, account
    server.stop()


@pytest.fixture
def twilio(serve: tuple[Serve, dict]) -> Client:
    server, account = serve
    client = Client(account["twilio"]["account_sid"], account["twilio"]["auth_token"])
    client.api.base_url = server.base_url
    return client


def say_and_hang_up(text: str) -> str:
    doc = VoiceResponse()
    doc.say(text)
    doc.hangup()
    return str(doc)


def tone_wav(seconds: float = 0.5, freq: float = 440.0) -> bytes:
    t = np.arange(int(8000 * seconds)) / 8000
    samples = (np.sin(2 * np.pi * freq * t) * 8000).astype("<i2")
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(samples.tobytes())
    return out.getvalue()


def statuses_in(hits: list, path: str, sid: str) -> list:
    return [h for h in hits if h.path == path and h.params.get("CallSid") == sid]


def statuses(webapp: WebApp, path: str, sid: str) -> list:
    return statuses_in(webapp.on(path), path, sid)


def wait_completed(webapp: WebApp, path: str, sid: str):
    return webapp.wait_for(
        lambda hits: [h for h in hits if h.path == path and h.params.get("CallSid") == sid
                      and h.params.get("CallbackSource") == "call-progress-events"
                      and h.params["CallStatus"] not in ("initiated", "ringing", "in-progress")],
        timeout=60,
    )[0]  # fmt: skip


def test_say_play_pause_completes_with_four_signed_callbacks(twilio, webapp, serve):
    server, account = serve
    doc = VoiceResponse()
    doc.say("Hello from Callgate")
    doc.play(webapp.url("/tone.wav"))
    doc.pause(length=1)
    webapp.route("/tone.wav", lambda hit: Response(tone_wav(), media_type="audio/wav"))
    voice = webapp.route("/voice-100", str(doc))
    call = twilio.calls.create(
        to="+14155550100", from_=FROM, url=voice, status_callback=webapp.url("/status-100"),
        status_callback_event=EVENTS,
    )  # fmt: skip
    final = wait_completed(webapp, "/status-100", call.sid)
    hits = statuses(webapp, "/status-100", call.sid)
    assert [h.params["CallStatus"] for h in hits] == ["initiated", "ringing", "in-progress", "completed"]
    assert [int(h.params["SequenceNumber"]) for h in hits] == [0, 1, 2, 3]
    assert all(h.signature_ok for h in hits), "every callback verifies with RequestValidator"
    for h in hits:
        assert h.params["AccountSid"] == account["twilio"]["account_sid"]
        assert h.params["To"] == "+14155550100" and h.params["From"] == FROM
        assert h.params["Direction"] == "outbound-api" and h.params["ApiVersion"] == "2010-04-01"
    assert final.params["SipResponseCode"] == "200"
    assert int(final.params["CallDuration"]) >= 1
    # The document was fetched once, signed, with the call's parameters; the audio was fetched too.
    (fetch,) = [h for h in webapp.on("/voice-100") if h.params.get("CallSid") == call.sid]
    assert fetch.method == "POST" and fetch.signature_ok and fetch.params["CallStatus"] == "in-progress"
    assert webapp.on("/tone.wav")
    fetched = twilio.calls(call.sid).fetch()
    assert fetched.status == "completed"
    assert fetched.start_time is not None and fetched.end_time is not None
    assert fetched.duration is not None and int(fetched.duration) >= 1
    assert fetched.price == "-0.01400" and fetched.price_unit == "USD", "one started minute at 0.0140"


def test_max_price_per_minute_refuses_a_dearer_call(serve):
    # twilio-python 9.x has no argument for MaxPricePerMinute: the form is posted as the API defines it.
    server, account = serve
    sid, token = account["twilio"]["account_sid"], account["twilio"]["auth_token"]
    url = f"{server.base_url}/2010-04-01/Accounts/{sid}/Calls.json"
    form = {"To": "+14155550120", "From": FROM, "Twiml": say_and_hang_up("Hi"), "MaxPricePerMinute": "0.1"}
    refused = httpx.post(url, data=form, auth=(sid, token), timeout=10)
    assert refused.status_code == 400
    assert refused.json()["code"] == 21215 and "MaxPricePerMinute" in refused.json()["message"]
    cheap = httpx.post(url, data={**form, "To": "+14155550100", "MaxPricePerMinute": "0.0140"},
                       auth=(sid, token), timeout=10)  # fmt: skip
    assert cheap.status_code == 201 and cheap.json()["status"] == "queued"


def test_gather_action_gets_the_digits(twilio, webapp):
    doc = VoiceResponse()
    gather = Gather(action=webapp.url("/gathered"), method="POST", timeout=10, finish_on_key="#")
    gather.say("Please enter your code")
    doc.append(gather)
    doc.say("We did not get anything")
    webapp.route("/gathered", say_and_hang_up("Thank you"))
    call = twilio.calls.create(to="+14155550101", from_=FROM, url=webapp.route("/voice-101", str(doc)))
    (hit,) = [h for h in webapp.wait_hits("/gathered") if h.params["CallSid"] == call.sid]
    assert hit.signature_ok
    assert hit.params["Digits"] == "1234"
    assert hit.params["FinishedOnKey"] == "#"


@pytest.mark.parametrize(
    ("number", "status", "sip"),
    [("+14155550120", "busy", "486"), ("+14155550150", "failed", "404")],
)
def test_unanswered_outcomes(twilio, webapp, number, status, sip):
    path = f"/status-{number[-4:]}"
    call = twilio.calls.create(
        to=number, from_=FROM, url=webapp.url("/never"), status_callback=webapp.url(path)
    )
    final = wait_completed(webapp, path, call.sid)
    assert final.params["CallStatus"] == status
    assert final.params["SipResponseCode"] == sip
    assert final.params["CallDuration"] == "0"
    assert twilio.calls(call.sid).fetch().status == status
    assert not webapp.on("/never"), "no document is fetched for a call nobody answered"


def test_no_answer_after_timeout(twilio, webapp):
    call = twilio.calls.create(to="+14155550130", from_=FROM, url=webapp.url("/never"), timeout=2,
                               status_callback=webapp.url("/status-130"))  # fmt: skip
    final = wait_completed(webapp, "/status-130", call.sid)
    assert final.params["CallStatus"] == "no-answer"
    assert final.params["SipResponseCode"] == "487"
    assert twilio.calls(call.sid).fetch().status == "no-answer"


def test_cancel_a_ringing_call(twilio, webapp):
    call = twilio.calls.create(to="+14155550130", from_=FROM, url=webapp.url("/never"),
                               status_callback=webapp.url("/status-cancel"),
                               status_callback_event=["ringing", "completed"])  # fmt: skip
    webapp.wait_for(lambda hits: [h for h in statuses_in(hits, "/status-cancel", call.sid)
                                  if h.params["CallStatus"] == "ringing"])  # fmt: skip
    updated = twilio.calls(call.sid).update(status="canceled")
    assert updated.status == "canceled"
    final = wait_completed(webapp, "/status-cancel", call.sid)
    assert final.params["CallStatus"] == "canceled"


def test_redirect_interrupts_the_running_verb(twilio, webapp):
    long_pause = VoiceResponse()
    long_pause.pause(length=60)
    voice = webapp.route("/voice-long", str(long_pause))
    call = twilio.calls.create(to="+14155550100", from_=FROM, url=voice,
                               status_callback=webapp.url("/status-redirect"))  # fmt: skip
    webapp.wait_for(
        lambda hits: [h for h in hits if h.path == "/voice-long" and h.params["CallSid"] == call.sid]
    )
    webapp.route("/voice-next", say_and_hang_up("Redirected"))
    twilio.calls(call.sid).update(url=webapp.url("/voice-next"), method="POST")
    (next_fetch,) = [h for h in webapp.wait_hits("/voice-next") if h.params["CallSid"] == call.sid]
    assert next_fetch.signature_ok
    final = wait_completed(webapp, "/status-redirect", call.sid)
    assert final.params["CallStatus"] == "completed"
    assert int(final.params["CallDuration"]) < 30, "the 60 s pause was interrupted"


def test_a_failing_url_reaches_the_fallback_with_the_error(twilio, webapp):
    webapp.route("/broken", lambda hit: Response("boom", status_code=500))
    webapp.route("/fallback", say_and_hang_up("Fallback"))
    call = twilio.calls.create(to="+14155550100", from_=FROM, url=webapp.url("/broken"),
                               fallback_url=webapp.url("/fallback"),
                               status_callback=webapp.url("/status-fallback"))  # fmt: skip
    (fallback,) = [h for h in webapp.wait_hits("/fallback") if h.params["CallSid"] == call.sid]
    assert fallback.signature_ok
    assert fallback.params["ErrorCode"] == "11200"
    assert fallback.params["ErrorUrl"] == webapp.url("/broken")
    assert wait_completed(webapp, "/status-fallback", call.sid).params["CallStatus"] == "completed"
    # What happened is kept with the call: the requests made (Call Events) and the debugger's notes.
    events = twilio.calls(call.sid).events.list()
    by_url = {e.request["url"]: e for e in events}
    assert by_url[webapp.url("/broken")].response["response_code"] == 500
    assert by_url[webapp.url("/fallback")].response["response_code"] == 200
    assert by_url[webapp.url("/fallback")].request["parameters"]["error_code"] == "11200"
    notes = twilio.calls(call.sid).notifications.list()
    assert [(n.error_code, n.log) for n in notes] == [("11200", "0")]
    assert notes[0].request_url == webapp.url("/broken")


def test_a_status_callback_app_that_fails_gets_the_retries_and_the_call_still_ends(twilio, webapp):
    webapp.route("/status-down", lambda hit: Response("down", status_code=503))
    call = twilio.calls.create(to="+14155550100", from_=FROM, twiml=say_and_hang_up("Bye"),
                               status_callback=webapp.url("/status-down"))  # fmt: skip
    # CALLGATE_WEBHOOK_DELIVERIES=2 deliveries of the completed callback, each with the #rc retries
    # of its URL (none by default for a 5xx), then it is given up.
    hits = webapp.wait_for(lambda hs: (found := statuses_in(hs, "/status-down", call.sid))[1:] and found)
    assert [h.params["CallStatus"] for h in hits] == ["completed", "completed"]
    assert twilio.calls(call.sid).fetch().status == "completed"


def test_an_unregistered_client_is_refused_at_create(twilio, webapp):
    with pytest.raises(TwilioRestException) as info:
        twilio.calls.create(to="client:alice", from_=FROM, twiml="<Response><Say>Hi</Say></Response>",
                            status_callback=webapp.url("/status-client"))  # fmt: skip
    assert (info.value.status, info.value.code) == (400, 21211)
    assert "client:alice, is not registered" in info.value.msg
    assert twilio.calls.list(to="client:alice") == [], "no call was stored"


def test_time_limit_ends_an_answered_call(twilio, webapp):
    doc = VoiceResponse()
    doc.pause(length=60)
    call = twilio.calls.create(to="+14155550100", from_=FROM, twiml=str(doc), time_limit=2,
                               status_callback=webapp.url("/status-limit"))  # fmt: skip
    final = wait_completed(webapp, "/status-limit", call.sid)
    assert final.params["CallStatus"] == "completed"
    assert 2 <= int(final.params["CallDuration"]) <= 4


def test_calls_beyond_the_rate_wait_in_the_queue(twilio, webapp):
    # calls_per_second is 10 (the default) with bursts of 10: of 25 calls made at once, the last
    # wait about 1.5 s in the queue before they are dialled, and queue_time says so.
    sids: list[str] = []
    lock = threading.Lock()

    def create() -> None:
        call = twilio.calls.create(to="+14155550100", from_=FROM, twiml=say_and_hang_up("Hi"),
                                   status_callback=webapp.url("/status-rate"),
                                   status_callback_event=["initiated", "completed"])  # fmt: skip
        with lock:
            sids.append(call.sid)

    threads = [threading.Thread(target=create) for _ in range(25)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert len(sids) == 25
    for sid in sids:
        wait_completed(webapp, "/status-rate", sid)
    initiated = sorted(h.at for h in webapp.on("/status-rate") if h.params["CallStatus"] == "initiated"
                       and h.params["CallSid"] in sids)  # fmt: skip
    assert len(initiated) == 25
    assert initiated[-1] - initiated[0] >= 1.0, "the rate spread the dialling over more than a second"
    queue_times = [int(twilio.calls(sid).fetch().queue_time) for sid in sids]
    assert max(queue_times) >= 1000 and min(queue_times) < 500, queue_times


def test_a_status_callback_app_that_is_down_gets_the_retries_and_the_call_still_ends(twilio, webapp):
    # Nothing listens on the port: each of the 2 deliveries (CALLGATE_WEBHOOK_DELIVERIES) tries twice,
    # Twilio's default connection override (#rc=1, #rp=ct: one retry on a connect failure).
    down = f"http://127.0.0.1:{free_port()}/status"
    call = twilio.calls.create(to="+14155550100", from_=FROM, twiml=say_and_hang_up("Bye"),
                               status_callback=down, status_callback_event=["completed"])  # fmt: skip
    attempts = []
    deadline = time.monotonic() + 30
    while len(attempts) < 4 and time.monotonic() < deadline:
        attempts = [e for e in twilio.calls(call.sid).events.list() if e.request["url"] == down]
        time.sleep(0.2)  # polling the Events resource under a deadline
    assert len(attempts) == 4, attempts
    assert all(e.response["response_code"] is None for e in attempts)
    assert twilio.calls(call.sid).fetch().status == "completed"
    # Given up, it is a warning in the call's notifications, with the connection failure's code.
    notes = [n for n in twilio.calls(call.sid).notifications.list() if n.request_url == down]
    assert [(n.log, n.error_code) for n in notes] == [("1", "11202")]  # TCP connection refused


@pytest.mark.parametrize(
    ("body", "code"),
    [("<Response><Say>unclosed", "12100"), ("<Response><Enqueue>support</Enqueue></Response>", "13750")],
    ids=["malformed", "unsupported-verb"],
)
def test_a_document_twilio_refuses_is_reported_and_the_call_ends(twilio, webapp, body, code):
    path = f"/bad-{code}"
    webapp.route(path, body)
    call = twilio.calls.create(to="+14155550100", from_=FROM, url=webapp.url(path),
                               status_callback=webapp.url(f"/status-bad-{code}"))  # fmt: skip
    final = wait_completed(webapp, f"/status-bad-{code}", call.sid)
    assert final.params["CallStatus"] == "completed"
    notes = twilio.calls(call.sid).notifications.list()
    assert [(n.error_code, n.log, n.request_url) for n in notes] == [(code, "0", webapp.url(path))]
