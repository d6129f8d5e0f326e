"""Errors as the SignalWire SDK exposes them, and the bodies behind them.

Shapes (the seed's create-a-call responses):
* 400: `{"errors": [{"code": "<string>", "message", "more_info"}, ...]}`, every parameter problem listed;
  twilio 6.54 finds no top-level code, so `TwilioRestException.code` is the HTTP status, 400.
* 401, 404, 422 (and 405): one flat `{"code": <int>, "message", "more_info", "status"}`;
  `TwilioRestException.code` is that code.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import requests
from support import FROM, TO, VOICE_URL, Account, call_params
from twilio.base.exceptions import TwilioException, TwilioRestException

MORE_INFO_PREFIX = "https://"


def assert_parameter_errors(response: requests.Response, codes: list[str]) -> list[dict[str, Any]]:
    """A 400 listing exactly `codes` (in any order), each item in the seed's array shape."""
    assert response.status_code == 400, response.text
    body = response.json()
    assert set(body) == {"errors"}
    errors = body["errors"]
    for item in errors:
        assert set(item) == {"code", "message", "more_info"}
        assert isinstance(item["code"], str) and item["code"].isdigit()
        assert isinstance(item["message"], str) and item["message"]
        assert item["more_info"].startswith(MORE_INFO_PREFIX)
    assert sorted(e["code"] for e in errors) == sorted(codes)
    return errors


def assert_flat_error(response: requests.Response, status: int, code: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"code", "message", "more_info", "status"}
    assert body["code"] == code
    assert body["status"] == status
    assert isinstance(body["message"], str) and body["message"]
    assert body["more_info"].startswith(MORE_INFO_PREFIX)
    return body


# Authentication and ownership


def test_bad_token_is_401(account: Account) -> None:
    client = account.client(token="PT" + "0" * 48)
    with pytest.raises(TwilioRestException) as info:
        client.calls.create(to=TO, from_=FROM, url=VOICE_URL)
    assert info.value.status == 401
    assert info.value.code == 20003
    with pytest.raises(TwilioRestException) as info:
        client.calls(str(uuid.uuid4())).fetch()
    assert info.value.status == 401
    assert info.value.code == 20003
    # A list read that fails is a plain TwilioException in twilio 6.54 ("Unable to fetch page").
    with pytest.raises(TwilioException):
        client.calls.list()


def test_401_bodies(account: Account) -> None:
    url = account.laml.url("/Calls.json")
    cases = [
        requests.post(url, data=call_params(), timeout=10),  # no credentials
        requests.post(url, data=call_params(), auth=(account.project_id, "wrong"), timeout=10),
        requests.post(url, data=call_params(), auth=(account.project_id, account.auth_token), timeout=10),
        requests.post(url, data=call_params(), auth=(account.account_sid, account.api_token), timeout=10),
    ]
    for response in cases:
        assert_flat_error(response, 401, 20003)
        assert response.headers["www-authenticate"].lower().startswith("basic")


def test_credentials_of_another_account_are_401(account: Account, other_account: Account) -> None:
    """The path names one project, the credentials are another's."""
    theirs = (other_account.project_id, other_account.api_token)
    response = requests.get(account.laml.url("/Calls.json"), auth=theirs, timeout=10)
    assert_flat_error(response, 401, 20003)


def test_another_accounts_call_is_404(account: Account, other_account: Account) -> None:
    theirs = other_account.client().calls.create(to=TO, from_=FROM, url=VOICE_URL)
    mine = account.client()
    for action in (
        lambda: mine.calls(theirs.sid).fetch(),
        lambda: mine.calls(theirs.sid).update(status="canceled"),
        lambda: mine.calls(theirs.sid).delete(),
    ):
        with pytest.raises(TwilioRestException) as info:
            action()
        assert info.value.status == 404
        assert info.value.code == 20404
    assert theirs.sid not in {c.sid for c in mine.calls.list()}
    assert other_account.client().calls(theirs.sid).fetch().status == "queued"  # untouched
    assert_flat_error(account.laml.get(f"/Calls/{theirs.sid}.json"), 404, 20404)


def test_malformed_call_sid_is_404(account: Account) -> None:
    assert_flat_error(account.laml.get("/Calls/CA0123.json"), 404, 20404)
    assert_flat_error(account.laml.get(f"/Calls/CA{uuid.uuid4().hex}.json"), 404, 20404)


def test_unsupported_method_is_405(account: Account) -> None:
    response = account.laml.session.put(account.laml.url("/Calls.json"), data=call_params(), timeout=10)
    assert_flat_error(response, 405, 20004)


# Parameter errors: 400 with every problem listed

LONG_DOCUMENT = "<Response><Say>" + "a" * 4000 + "</Say></Response>"

PARAMETER_CASES: list[tuple[str, dict[str, str | None], list[str]]] = [
    ("missing To", {"To": None}, ["21201"]),
    ("empty To", {"To": ""}, ["21201"]),
    ("missing From", {"From": None}, ["21213"]),
    ("invalid To", {"To": "12345"}, ["21211"]),
    ("invalid To number", {"To": "+1415"}, ["21211"]),
    ("invalid From", {"From": "not-a-number"}, ["21212"]),
    ("invalid CallerId", {"CallerId": "nope"}, ["21212"]),
    ("no Url, Laml or ApplicationSid", {"Url": None}, ["21205"]),
    # Every problem is listed, From's too when To is refused.
    ("invalid To and From", {"To": "abc", "From": "abc"}, ["21211", "21212"]),
    ("invalid SIP To, caller name From", {"To": "sip:", "From": "alice"}, ["21211"]),
    ("StatusCallback host with an underscore", {"StatusCallback": "https://a_b.example.com/s"}, ["21609"]),
    ("Record yes", {"Record": "yes"}, ["21200"]),
    ("Record 1", {"Record": "1"}, ["21200"]),
    ("AsyncAmd yes", {"AsyncAmd": "yes"}, ["21200"]),
    ("invalid Url", {"Url": "not a url"}, ["21205"]),
    ("relative Url", {"Url": "/voice.xml"}, ["21205"]),
    ("ftp Url", {"Url": "ftp://example.com/voice.xml"}, ["21205"]),
    ("invalid FallbackUrl", {"FallbackUrl": "example.com"}, ["21205"]),
    ("invalid StatusCallback", {"StatusCallback": "nope"}, ["21609"]),
    ("invalid RecordingStatusCallback", {"RecordingStatusCallback": "nope"}, ["21205"]),
    ("invalid AsyncAmdStatusCallback", {"AsyncAmdStatusCallback": "nope"}, ["21205"]),
    ("SendDigits A", {"SendDigits": "1A"}, ["21206"]),
    ("SendDigits ABCD", {"SendDigits": "ABCD"}, ["21206"]),
    ("SendDigits d", {"SendDigits": "d"}, ["21206"]),
    ("SendDigits too long", {"SendDigits": "1" * 33}, ["21206"]),
    ("Timeout 0", {"Timeout": "0"}, ["21208"]),
    ("Timeout 601", {"Timeout": "601"}, ["21208"]),
    ("Timeout text", {"Timeout": "soon"}, ["21208"]),
    ("MachineDetection unknown", {"MachineDetection": "Detect"}, ["21207"]),
    ("MachineDetection wrong case", {"MachineDetection": "enable"}, ["21207"]),
    ("MachineDetectionTimeout 0", {"MachineDetectionTimeout": "0"}, ["21200"]),
    ("MachineDetectionTimeout 121", {"MachineDetectionTimeout": "121"}, ["21200"]),
    ("MachineDetectionSpeechThreshold 999", {"MachineDetectionSpeechThreshold": "999"}, ["21200"]),
    ("MachineDetectionSpeechThreshold 6001", {"MachineDetectionSpeechThreshold": "6001"}, ["21200"]),
    ("MachineDetectionSpeechEndThreshold 499", {"MachineDetectionSpeechEndThreshold": "499"}, ["21200"]),
    ("MachineDetectionSpeechEndThreshold 5001", {"MachineDetectionSpeechEndThreshold": "5001"}, ["21200"]),
    ("MachineDetectionSilenceTimeout 1999", {"MachineDetectionSilenceTimeout": "1999"}, ["21200"]),
    ("MachineDetectionSilenceTimeout 10001", {"MachineDetectionSilenceTimeout": "10001"}, ["21200"]),
    ("MachineWordsThreshold 0", {"MachineWordsThreshold": "0"}, ["21200"]),
    ("MachineWordsThreshold 101", {"MachineWordsThreshold": "101"}, ["21200"]),
    ("Method PUT", {"Method": "PUT"}, ["21209"]),
    ("FallbackMethod DELETE", {"FallbackMethod": "DELETE"}, ["21209"]),
    ("StatusCallbackMethod PATCH", {"StatusCallbackMethod": "PATCH"}, ["21209"]),
    ("AsyncAmdStatusCallbackMethod HEAD", {"AsyncAmdStatusCallbackMethod": "HEAD"}, ["21209"]),
    ("RecordingStatusCallbackMethod PUT", {"RecordingStatusCallbackMethod": "PUT"}, ["21209"]),
    ("StatusCallbackEvent unknown", {"StatusCallbackEvent": "hungup"}, ["21626"]),
    ("RecordingStatusCallbackEvent unknown", {"RecordingStatusCallbackEvent": "done"}, ["21200"]),
    ("RecordingChannels stereo", {"RecordingChannels": "stereo"}, ["21200"]),
    ("RecordingTrack left", {"RecordingTrack": "left"}, ["21200"]),
    ("Trim yes", {"Trim": "yes"}, ["21200"]),
    ("Record maybe", {"Record": "maybe"}, ["21200"]),
    ("AsyncAmd maybe", {"AsyncAmd": "maybe"}, ["21200"]),
    ("AsyncAmdPartialResults maybe", {"AsyncAmdPartialResults": "maybe"}, ["21200"]),
    ("MaxPricePerMinute text", {"MaxPricePerMinute": "cheap"}, ["21200"]),
    ("MaxPricePerMinute five decimals", {"MaxPricePerMinute": "0.12345"}, ["21200"]),
    ("MaxPricePerMinute negative", {"MaxPricePerMinute": "-1"}, ["21200"]),
    ("Laml too long", {"Url": None, "Laml": LONG_DOCUMENT}, ["32018"]),
    ("Twiml too long", {"Url": None, "Twiml": LONG_DOCUMENT}, ["32018"]),
    ("Laml malformed", {"Url": None, "Laml": "<Response><Say>unclosed</Response>"}, ["12100"]),
    ("Laml not XML", {"Url": None, "Laml": "Say hello"}, ["12100"]),
    ("Laml wrong root", {"Url": None, "Laml": "<Document><Say>hi</Say></Document>"}, ["12100"]),
    (
        "Laml with an entity declaration",
        {
            "Url": None,
            "Laml": '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY e "x">]><Response><Say>&e;</Say></Response>',
        },
        ["12100"],
    ),
]


@pytest.mark.parametrize(
    ("overrides", "codes"),
    [(o, c) for _, o, c in PARAMETER_CASES],
    ids=[name for name, _, _ in PARAMETER_CASES],
)
def test_parameter_error_body(account: Account, overrides: dict[str, str | None], codes: list[str]) -> None:
    assert_parameter_errors(account.laml.post("/Calls.json", call_params(**overrides)), codes)


def test_a_laml_of_exactly_4000_characters_is_accepted(account: Account) -> None:
    head, tail = "<Response><Say>", "</Say></Response>"
    document = head + "a" * (4000 - len(head) - len(tail)) + tail
    assert len(document) == 4000
    response = account.laml.post("/Calls.json", call_params(Url=None, Laml=document))
    assert response.status_code in (200, 201), response.text
    too_long = head + "a" * (4001 - len(head) - len(tail)) + tail
    assert_parameter_errors(account.laml.post("/Calls.json", call_params(Url=None, Laml=too_long)), ["32018"])


def test_every_problem_is_listed(account: Account) -> None:
    form = call_params(
        To=None,
        From=None,
        Url=None,
        SendDigits="A",
        Timeout="0",
        Method="PUT",
        MachineDetection="maybe",
        StatusCallback="nope",
        StatusCallbackEvent="bogus",
        Trim="yes",
    )
    errors = assert_parameter_errors(
        account.laml.post("/Calls.json", form),
        ["21201", "21213", "21205", "21209", "21609", "21626", "21206", "21208", "21200", "21207"],
    )
    # The message names the parameter it is about.
    by_code = {e["code"]: e["message"] for e in errors}
    assert "SendDigits" in by_code["21206"]
    assert "Timeout" in by_code["21208"]
    assert "To" in by_code["21201"]
    assert "From" in by_code["21213"]


def test_sdk_exposes_400_as_status_and_code_400(client: Any) -> None:
    cases = [
        {"to": "", "from_": FROM, "url": VOICE_URL},  # an empty To counts as missing
        {"to": "12345", "from_": FROM, "url": VOICE_URL},
        {"to": TO, "from_": FROM},  # no Url, Twiml or ApplicationSid
        {"to": TO, "from_": FROM, "url": "not a url"},
        {"to": TO, "from_": FROM, "url": VOICE_URL, "send_digits": "ABCD"},
        {"to": TO, "from_": FROM, "url": VOICE_URL, "timeout": 0},
        {"to": TO, "from_": FROM, "url": VOICE_URL, "timeout": 601},
        {"to": TO, "from_": FROM, "url": VOICE_URL, "machine_detection": "Sometimes"},
        {"to": TO, "from_": FROM, "url": VOICE_URL, "machine_detection_speech_threshold": 999},
        {"to": TO, "from_": FROM, "url": VOICE_URL, "status_callback_event": ["initiated", "bogus"]},
        {"to": TO, "from_": FROM, "twiml": "<Response><Say>unclosed</Response>"},
    ]
    for kwargs in cases:
        with pytest.raises(TwilioRestException) as info:
            client.calls.create(**kwargs)
        assert info.value.status == 400, kwargs
        assert info.value.code == 400, kwargs
        assert info.value.method == "POST"


def test_send_digits_follow_each_seed(account: Account) -> None:
    """SignalWire's pattern is ^[\\d#*wW]{1,32}$; Twilio's seed allows 0-9, #, * and w only."""
    assert_parameter_errors(account.laml.post("/Calls.json", call_params(SendDigits="12AB")), ["21206"])
    assert account.laml.post("/Calls.json", call_params(SendDigits="W12w#")).status_code == 200
    twilio = account.twilio.post("/Calls.json", call_params(SendDigits="W12w#"))
    assert (twilio.status_code, twilio.json()["code"]) == (400, 21206), twilio.text
    assert account.twilio.post("/Calls.json", call_params(SendDigits="w12#*")).status_code == 201


def test_signalwire_status_callback_events_are_signalwire_only(account: Account) -> None:
    form = call_params(StatusCallbackEvent="ringing_forwarded")
    assert account.laml.post("/Calls.json", form).status_code in (200, 201)
    twilio = account.twilio.post("/Calls.json", form)
    assert twilio.status_code == 400
    assert twilio.json()["code"] == 21626


def test_a_failed_create_stores_nothing(fresh_account: Account) -> None:
    client = fresh_account.client()
    response = fresh_account.laml.post("/Calls.json", call_params(Timeout="0"))
    assert response.status_code == 400
    assert client.calls.list() == []


def test_update_parameter_errors(client: Any, account: Account) -> None:
    call = client.calls.create(to=TO, from_=FROM, url=VOICE_URL)
    path = f"/Calls/{call.sid}.json"
    assert_parameter_errors(account.laml.post(path, {"Status": "paused"}), ["21200"])
    assert_parameter_errors(account.laml.post(path, {"Url": "nope"}), ["21205"])
    # Url and Laml together: Url is used and Laml ignored (the seed's order), a bad Laml too.
    assert account.laml.post(path, {"Url": VOICE_URL, "Laml": "<Response>"}).status_code == 200
    assert_parameter_errors(account.laml.post(path, {"Laml": "<Response>"}), ["12100"])
    form = {"Method": "PUT", "StatusCallback": "x"}
    assert_parameter_errors(account.laml.post(path, form), ["21209", "21609"])
    with pytest.raises(TwilioRestException) as info:
        client.calls(call.sid).update(status="paused")
    assert (info.value.status, info.value.code) == (400, 400)
    assert client.calls(call.sid).fetch().status == "queued"  # nothing applied


def test_list_parameter_errors(account: Account) -> None:
    assert account.laml.get("/Calls.json", params={"Status": "sleeping"}).status_code == 400
    assert account.laml.get("/Calls.json", params={"PageSize": "0"}).status_code == 400
    assert account.laml.get("/Calls.json", params={"StartTime>": "yesterday"}).status_code == 400


# Semantic errors: 422, one flat object


def test_invalid_call_state_is_422(client: Any, account: Account) -> None:
    call = client.calls.create(to=TO, from_=FROM, url=VOICE_URL)
    client.calls(call.sid).update(status="canceled")
    assert_flat_error(account.laml.post(f"/Calls/{call.sid}.json", {"Url": VOICE_URL}), 422, 21220)
    assert_flat_error(account.laml.post(f"/Calls/{call.sid}.json", {"Status": "canceled"}), 422, 21220)


def test_deleting_a_live_call_is_422(client: Any, account: Account) -> None:
    call = client.calls.create(to=TO, from_=FROM, url=VOICE_URL)
    assert_flat_error(account.laml.delete(f"/Calls/{call.sid}.json"), 422, 20009)
    assert account.laml.get(f"/Calls/{call.sid}.json").status_code == 200


def test_unknown_application_is_422(account: Account) -> None:
    response = account.laml.post("/Calls.json", call_params(Url=None, ApplicationSid=str(uuid.uuid4())))
    assert_flat_error(response, 422, 21218)


def test_the_sdk_reads_the_flat_code_and_message(client: Any) -> None:
    call = client.calls.create(to=TO, from_=FROM, url=VOICE_URL)
    with pytest.raises(TwilioRestException) as info:
        client.calls(call.sid).delete()
    assert (info.value.status, info.value.code, info.value.method) == (422, 20009, "DELETE")
    assert info.value.msg.startswith("Unable to delete record: ")
    assert len(info.value.msg) > len("Unable to delete record: ")


# Edge inputs that once answered 500: they must get a vendor error body (or a result), never a crash.


def _fresh_get(account: Account, path: str, params: Any) -> requests.Response:
    return requests.get(
        account.laml.url(path), params=params, auth=(account.project_id, account.api_token), timeout=10
    )


def _fresh_post(account: Account, path: str, data: Any) -> requests.Response:
    return requests.post(
        account.laml.url(path), data=data, auth=(account.project_id, account.api_token), timeout=10
    )


def test_an_out_of_range_page_token_is_a_parameter_error(account: Account) -> None:
    response = _fresh_get(account, "/Calls.json", {"PageToken": "PA9999999999999999999"})
    assert_parameter_errors(response, ["21481"])


def test_the_last_representable_day_is_a_valid_filter(account: Account) -> None:
    response = _fresh_get(account, "/Calls.json", {"StartTime<": "9999-12-31"})
    assert response.status_code in (200, 400), response.text
    response = _fresh_get(account, "/Calls.json", {"EndTime": "9999-12-31"})
    assert response.status_code in (200, 400), response.text


@pytest.mark.parametrize(
    ("method", "path", "data"),
    [
        ("post", "/Applications.json", {"FriendlyName": "a\x00b"}),
        ("get", "/Applications.json", {"FriendlyName": "a\x00b"}),
        ("get", "/Calls.json", {"To": "a\x00b"}),
        ("post", "/Calls.json", call_params(To="sip:alice@example.com;x=\x00", From="bob")),
    ],
    ids=["create application", "list applications", "list calls", "create call"],
)
def test_a_nul_character_is_not_a_server_error(account: Account, method: str, path: str, data: Any) -> None:
    send = _fresh_post if method == "post" else _fresh_get
    response = send(account, path, data)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/json")
