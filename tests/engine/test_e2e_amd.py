"""Answering-machine detection end to end, through the twilio SDK, against the sandbox's phones: a
person (0100), a machine with and without a beep (0110, 0111), a fax (0170), silence (0190).

Every call is placed at once by one fixture (the machines take ~14 s to finish their greetings);
each test then waits for what its call made the web app receive."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from twilio.rest import Client
from twilio.twiml.voice_response import VoiceResponse

from tests.engine.server import Serve, twilio_user
from tests.engine.test_e2e_twilio import wait_completed
from tests.engine.webapp import Hit, WebApp

pytestmark = [pytest.mark.sdk, pytest.mark.slow]

FROM = "+14155550199"
HANG_UP = "<Response><Hangup/></Response>"


def number(last4: str) -> str:
    return f"+1415555{last4}"


@pytest.fixture(scope="module")
def placed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Client, WebApp, dict[str, str]]]:
    workdir = tmp_path_factory.mktemp("amd")
    with twilio_user(Serve(f"sqlite:///{workdir}/callgate.db", workdir)) as (client, app, _account):
        yield client, app, place_calls(client, app)


def place_calls(client: Client, app: WebApp) -> dict[str, str]:
    """Every call of the module, placed at once; their sids by name."""
    app.route("/hangup", HANG_UP)
    wait = VoiceResponse()
    wait.pause(length=20)
    app.route("/wait", str(wait))
    app.route("/pause-1", '<Response><Pause length="1"/><Hangup/></Response>')
    app.route("/pause-4", '<Response><Pause length="4"/><Hangup/></Response>')
    calls: dict[str, str] = {}

    def place(name: str, to: str, url: str = "/hangup", **options: object) -> None:
        call = client.calls.create(to=to, from_=FROM, url=app.url(url), status_callback=app.url("/status"),
                                   **options)  # fmt: skip
        calls[name] = call.sid

    place("person", number("0100"), machine_detection="Enable")
    place("beep", number("0110"), machine_detection="DetectMessageEnd")
    place("no-beep", number("0111"), machine_detection="DetectMessageEnd")
    place("fax", number("0170"), machine_detection="Enable")
    place("silence", number("0190"), machine_detection="Enable", machine_detection_silence_timeout=2000)
    place("async", number("0110"), url="/wait", machine_detection="Enable", async_amd="true",
          async_amd_status_callback=app.url("/amd"))  # fmt: skip
    place("digits", number("0100"), machine_detection="Enable", send_digits="1")
    # Calls that end before detection has decided: the document hangs up, or the API ends them.
    place("async-silent-ended", number("0190"), url="/pause-1", machine_detection="Enable", async_amd="true",
          async_amd_status_callback=app.url("/amd"))  # fmt: skip
    place("async-greeting-ended", number("0111"), url="/pause-4", machine_detection="DetectMessageEnd",
          async_amd="true", async_amd_status_callback=app.url("/amd"))  # fmt: skip
    return calls


def voice_request(app: WebApp, path: str, sid: str) -> Hit:
    hits = app.wait_for(lambda hits: [h for h in hits if h.path == path and h.params["CallSid"] == sid],
                        timeout=60)  # fmt: skip
    return hits[0]  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("name", "answered_by"),
    [
        ("person", "human"),
        ("beep", "machine_end_beep"),
        ("no-beep", "machine_end_silence"),
        ("fax", "fax"),
        ("silence", "unknown"),
    ],
)
def test_the_document_is_asked_for_once_it_is_known_who_answered(placed, name, answered_by):
    client, app, calls = placed
    sid = calls[name]
    fetched = voice_request(app, "/hangup", sid)
    assert fetched.signature_ok
    assert fetched.params["AnsweredBy"] == answered_by
    final = wait_completed(app, "/status", sid)
    assert final.params["CallStatus"] == "completed" and final.params["AnsweredBy"] == answered_by
    assert client.calls(sid).fetch().answered_by == answered_by


def test_a_machine_is_told_only_after_its_greeting_with_detect_message_end(placed):
    _client, app, calls = placed
    # The sandbox machine answers, then speaks for ~8 s; the person says "Hello?" and is done in ~2 s.
    person = voice_request(app, "/hangup", calls["person"])
    machine = voice_request(app, "/hangup", calls["beep"])
    assert machine.at - person.at > 6


def test_async_detection_runs_beside_the_document_and_reports_to_its_callback(placed):
    client, app, calls = placed
    sid = calls["async"]
    fetched = voice_request(app, "/wait", sid)
    assert "AnsweredBy" not in fetched.params, "the document was asked for at once"
    amd = voice_request(app, "/amd", sid)
    assert amd.signature_ok
    assert amd.params["AnsweredBy"] == "machine_start"
    # A greeting passes for a machine once it has lasted the speech threshold (2.4 s).
    assert 2400 <= int(amd.params["MachineDetectionDuration"]) <= 4500
    assert amd.params["AccountSid"] == client.account_sid
    assert client.calls(sid).fetch().answered_by == "machine_start"
    client.calls(sid).update(status="completed")
    wait_completed(app, "/status", sid)


def test_send_digits_turns_detection_off(placed):
    client, app, calls = placed
    sid = calls["digits"]
    fetched = voice_request(app, "/hangup", sid)
    assert "AnsweredBy" not in fetched.params
    wait_completed(app, "/status", sid)
    assert client.calls(sid).fetch().answered_by is None


@pytest.mark.parametrize(
    ("name", "answered_by"),
    [
        ("async-silent-ended", "unknown"),  # nothing decided after 1 s of silence
        ("async-greeting-ended", "machine_end_other"),  # a machine, 4 s into its 8 s greeting
    ],
)
def test_a_call_ended_before_detection_decided_still_reports_what_was_known(placed, name, answered_by):
    client, app, calls = placed
    sid = calls[name]
    amd = voice_request(app, "/amd", sid)
    assert amd.signature_ok
    assert amd.params["AnsweredBy"] == answered_by
    final = wait_completed(app, "/status", sid)
    assert final.params["AnsweredBy"] == answered_by, "the result is the call's before its end is told"
    assert client.calls(sid).fetch().answered_by == answered_by
    assert len([h for h in app.on("/amd") if h.params["CallSid"] == sid]) == 1


def test_a_call_ended_through_the_api_during_async_detection_still_reports_it(placed):
    client, app, _calls = placed
    # Placed now, not with the others: detection must still be listening (silence, 10 s to decide).
    sid = client.calls.create(
        to=number("0190"), from_=FROM, url=app.url("/wait"), status_callback=app.url("/status"),
        machine_detection="Enable", machine_detection_silence_timeout=10000, async_amd="true",
        async_amd_status_callback=app.url("/amd"),
    ).sid  # fmt: skip
    voice_request(app, "/wait", sid)  # answered, the document going, detection still listening
    client.calls(sid).update(status="completed")
    amd = voice_request(app, "/amd", sid)
    assert amd.params["AnsweredBy"] == "unknown"
    assert 0 <= int(amd.params["MachineDetectionDuration"]) < 10000  # before the silence timeout
    wait_completed(app, "/status", sid)
    assert client.calls(sid).fetch().answered_by == "unknown"


def test_a_call_ended_through_the_api_during_detection_gets_its_answered_by(placed):
    client, app, _calls = placed
    sid = client.calls.create(
        to=number("0190"), from_=FROM, url=app.url("/hangup"), status_callback=app.url("/status"),
        status_callback_event=["answered", "completed"], machine_detection="Enable",
        machine_detection_silence_timeout=10000,
    ).sid  # fmt: skip
    app.wait_for(lambda hits: [h for h in hits if h.path == "/status" and h.params["CallSid"] == sid
                               and h.params["CallStatus"] == "in-progress"], timeout=60)  # fmt: skip
    client.calls(sid).update(status="completed")  # within the 10 s of silence detection waits for
    wait_completed(app, "/status", sid)
    assert client.calls(sid).fetch().answered_by == "unknown"
    assert not [h for h in app.on("/hangup") if h.params["CallSid"] == sid], "no document once it ended"
