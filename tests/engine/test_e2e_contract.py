"""Create Call parameters whose effect only a real call shows, through the twilio SDK on `callgate
serve`: which document and which status callback an ApplicationSid, a Url and a Twiml given together
lead to; start_time of a call that was dialled and not answered; Byoc routing a call through its BYOC
trunk with CallReason as the INVITE's Subject (a SIPp carrier checks the INVITE)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from twilio.rest import Client
from twilio.twiml.voice_response import VoiceResponse

from tests.engine.server import Serve, twilio_user
from tests.engine.webapp import Hit, WebApp
from tests.telephony.aio.peers import Sipp, free_media_port

pytestmark = [pytest.mark.sdk, pytest.mark.slow, pytest.mark.interop]

SCENARIOS = Path(__file__).parent / "scenarios"
FROM = "+14155550199"
BYOC = "BY" + "c" * 32
PROGRESS = ("initiated", "ringing", "in-progress")


@pytest.fixture(scope="module")
def carrier(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sipp]:
    """The far end of the BYOC trunk: one call, checked by its scenario."""
    workdir = tmp_path_factory.mktemp("carrier")
    far = Sipp(["-sf", str(SCENARIOS / "byoc_trunk_busy.xml"), "-mi", "127.0.0.1", "-mp",
                str(free_media_port())], workdir)  # fmt: skip
    yield far
    if far.proc.poll() is None:
        far.proc.kill()


@pytest.fixture(scope="module")
def user(tmp_path_factory: pytest.TempPathFactory, carrier: Sipp) -> Iterator[tuple[Client, WebApp]]:
    workdir = tmp_path_factory.mktemp("serve")
    config = workdir / "callgate.toml"
    # Its prefix matches no number of the tests: only a call naming its sid goes there.
    config.write_text(
        f'[[trunks]]\nname = "carrier"\nproxy = "sip:127.0.0.1:{carrier.port}"\nprefixes = ["+999"]\n'
        f'sid = "{BYOC}"\n'
    )
    server = Serve(f"sqlite:///{workdir}/callgate.db", workdir, CALLGATE_CONFIG_FILE=str(config))
    with twilio_user(server) as (client, app, _account):
        yield client, app


@pytest.fixture(scope="module")
def twilio(user: tuple[Client, WebApp]) -> Client:
    return user[0]


@pytest.fixture(scope="module")
def webapp(user: tuple[Client, WebApp]) -> WebApp:
    return user[1]


def hangs_up(text: str) -> str:
    doc = VoiceResponse()
    doc.say(text)
    doc.hangup()
    return str(doc)


def final(webapp: WebApp, path: str, sid: str) -> Hit:
    found = webapp.wait_for(
        lambda hits: [h for h in hits if h.path == path and h.params.get("CallSid") == sid
                      and h.params["CallStatus"] not in PROGRESS],
        timeout=60,
    )  # fmt: skip
    return found[0]  # type: ignore[no-any-return]


def of_call(webapp: WebApp, path: str, sid: str) -> list[Hit]:
    return [h for h in webapp.on(path) if h.params.get("CallSid") == sid]


def test_application_sid_uses_the_applications_document_and_status_callback(twilio, webapp):
    app = twilio.applications.create(
        friendly_name="contract",
        voice_url=webapp.route("/app-voice", hangs_up("From the application")),
        status_callback=webapp.url("/app-status"),
    )
    webapp.route("/request-voice", hangs_up("From the request"))
    call = twilio.calls.create(
        to="+14155550100", from_=FROM, application_sid=app.sid,
        url=webapp.url("/request-voice"), twiml=hangs_up("Inline"),
        status_callback=webapp.url("/request-status"), status_callback_event=["initiated", "completed"],
    )  # fmt: skip
    done = final(webapp, "/app-status", call.sid)
    assert done.params["CallStatus"] == "completed" and done.signature_ok
    # The Application's StatusCallback gets the callbacks, with its default events (completed only).
    assert [h.params["CallStatus"] for h in of_call(webapp, "/app-status", call.sid)] == ["completed"]
    assert of_call(webapp, "/app-voice", call.sid), "the Application's VoiceUrl was fetched"
    assert not of_call(webapp, "/request-voice", call.sid), "the request's Url was ignored"
    assert not of_call(webapp, "/request-status", call.sid), "the request's StatusCallback was ignored"


def test_url_with_twiml_runs_the_url(twilio, webapp):
    call = twilio.calls.create(
        to="+14155550100", from_=FROM, url=webapp.route("/url-voice", hangs_up("From the URL")),
        twiml="<Response><Pause length='30'/></Response>", status_callback=webapp.url("/url-status"),
    )  # fmt: skip
    done = final(webapp, "/url-status", call.sid)
    assert done.params["CallStatus"] == "completed"
    assert of_call(webapp, "/url-voice", call.sid), "Url was fetched; the Twiml given with it was ignored"
    assert int(done.params["CallDuration"]) < 20, "the Twiml's 30 s pause never ran"


def test_a_dialled_call_that_was_not_answered_has_a_start_time(twilio, webapp):
    call = twilio.calls.create(to="+14155550120", from_=FROM, url=webapp.url("/never"),
                               status_callback=webapp.url("/busy-status"))  # fmt: skip
    assert call.start_time is None, "not dialled yet"
    assert final(webapp, "/busy-status", call.sid).params["CallStatus"] == "busy"
    fetched = twilio.calls(call.sid).fetch()
    assert fetched.status == "busy"
    assert fetched.start_time is not None and fetched.end_time is not None
    assert fetched.start_time <= fetched.end_time
    assert fetched.date_created <= fetched.start_time, "dialled after it was created"


def test_byoc_routes_through_its_trunk_with_call_reason_as_subject(twilio, webapp, carrier):
    """The carrier also checks that the INVITE's From user is the CallerId, not From."""
    call = twilio.calls.create(
        to="+14155550100", from_=FROM, caller_id="+14155550198", url=webapp.url("/never"), byoc=BYOC,
        call_reason="Your table is ready", status_callback=webapp.url("/byoc-status"),
    )  # fmt: skip
    done = final(webapp, "/byoc-status", call.sid)
    # +14155550100 answers in the sandbox; through the trunk, the carrier's scenario answers busy.
    assert (done.params["CallStatus"], done.params["SipResponseCode"]) == ("busy", "486")
    assert carrier.wait() == 0, "the carrier got the INVITE with the Subject and the number"


def test_a_record_true_call_that_kept_no_audio_reports_absent(twilio, webapp):
    # 0190 answers and never makes a sound, the document plays nothing: trim-silence keeps nothing.
    doc = VoiceResponse()
    doc.pause(length=1)
    doc.hangup()
    call = twilio.calls.create(
        to="+14155550190", from_=FROM, twiml=str(doc), record=True,
        recording_status_callback=webapp.url("/absent-recording"),
        recording_status_callback_event=["in-progress", "completed", "absent"],
        status_callback=webapp.url("/absent-status"),
    )  # fmt: skip
    done = final(webapp, "/absent-status", call.sid)
    assert done.params["CallStatus"] == "completed"
    assert "RecordingUrl" not in done.params, "no audio was kept to point at"
    hits = webapp.wait_for(lambda hs: [h for h in hs if h.path == "/absent-recording"
                                        and h.params.get("CallSid") == call.sid
                                        and h.params["RecordingStatus"] == "absent"])  # fmt: skip
    assert hits[0].signature_ok
    statuses = [h.params["RecordingStatus"] for h in of_call(webapp, "/absent-recording", call.sid)]
    assert statuses == ["in-progress", "absent"]
    (recording,) = twilio.calls(call.sid).recordings.list()
    assert recording.status == "absent"
