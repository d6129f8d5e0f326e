"""Every bad input gets Twilio's status, body and code, through the real SDK, and stores nothing."""

from __future__ import annotations

import httpx
import pytest
from twilio.base.exceptions import TwilioRestException

from callgate.dialects.twilio.face import TWILIO
from tests.conftest import twilio_client

pytestmark = pytest.mark.sdk

OK = {"to": "+14155550100", "from_": "+14155550199", "url": "https://example.com/voice"}
TWIML = "<Response><Say>hi</Say></Response>"

CASES = [
    # (id, changes to a valid request, code, words in the message)
    ("to-missing", {"to": ""}, 21201, "No 'To' number is specified"),
    (
        "to-not-a-number",
        {"to": "+1234"},
        21211,
        "The phone number you are attempting to call, +1234, is not valid.",
    ),
    ("to-letters", {"to": "hello"}, 21211, "not valid"),
    ("to-bad-sip", {"to": "sip:"}, 21211, "not valid"),
    ("to-national", {"to": "4155550100"}, 21211, "not valid"),
    ("from-missing", {"from_": ""}, 21213, "No 'From' number is specified"),
    ("from-not-a-number", {"from_": "+1"}, 21212, "From is not a valid phone number: +1"),
    ("from-name-to-phone", {"from_": "alice"}, 21212, "From is not a valid phone number"),
    ("from-client-to-phone", {"from_": "client:alice"}, 21212, "From is not a valid phone number"),
    ("caller-id", {"caller_id": "nope"}, 21212, "CallerId is not a valid phone number"),
    ("no-handler", {"url": None}, 21205, "Url parameter is required"),
    ("status-callback-underscore", {"status_callback": "https://my_host.example.com/cb"}, 21609,
     "StatusCallback is not a valid URL"),
    ("url-relative", {"url": "/voice"}, 21205, "Url is not a valid URL: /voice"),
    ("url-ftp", {"url": "ftp://example.com/x"}, 21205, "Url is not a valid URL"),
    ("url-spaces", {"url": "https://exa mple.com/"}, 21205, "Url is not a valid URL"),
    ("fallback-url", {"fallback_url": "nope"}, 21205, "FallbackUrl is not a valid URL"),
    ("method", {"method": "PUT"}, 21209, "Method must be one of GET, POST"),
    ("fallback-method", {"fallback_method": "DELETE"}, 21209, "FallbackMethod"),
    ("status-callback", {"status_callback": "example.com/cb"}, 21609, "StatusCallback is not a valid URL"),
    ("status-callback-method", {"status_callback_method": "PATCH"}, 21209, "StatusCallbackMethod"),
    ("status-callback-event", {"status_callback_event": ["ringing", "bogus"]}, 21626, "StatusCallbackEvent"),
    ("send-digits-char", {"send_digits": "12x"}, 21206, "SendDigits is not valid: 12x"),
    ("send-digits-long", {"send_digits": "1" * 33}, 21206, "SendDigits"),
    # The seed allows 0-9, #, * and w: not the DTMF letters, not W.
    ("send-digits-letter", {"send_digits": "1A"}, 21206, "SendDigits is not valid: 1A"),
    ("send-digits-long-wait", {"send_digits": "W1"}, 21206, "SendDigits is not valid: W1"),
    ("timeout-low", {"timeout": 0}, 21208, "Timeout must be between 1 and 600"),
    ("timeout-high", {"timeout": 601}, 21208, "Timeout must be between 1 and 600"),
    ("timeout-text", {"timeout": "soon"}, 21208, "Timeout must be an integer"),
    ("record", {"record": "maybe"}, 21200, "Record must be true or false"),
    # The seed's booleans are true and false; yes, 1 and their like are not.
    ("record-yes", {"record": "yes"}, 21200, "Record must be true or false: yes"),
    ("record-one", {"record": "1"}, 21200, "Record must be true or false: 1"),
    (
        "recording-channels",
        {"recording_channels": "stereo"},
        21200,
        "RecordingChannels must be one of mono, dual",
    ),
    ("recording-track", {"recording_track": "all"}, 21200, "RecordingTrack"),
    (
        "recording-callback",
        {"recording_status_callback": "x"},
        21205,
        "RecordingStatusCallback is not a valid",
    ),
    (
        "recording-callback-method",
        {"recording_status_callback_method": "X"},
        21209,
        "RecordingStatusCallbackMethod",
    ),
    ("recording-event", {"recording_status_callback_event": ["done"]}, 21200, "RecordingStatusCallbackEvent"),
    ("trim", {"trim": "yes"}, 21200, "Trim must be one of trim-silence, do-not-trim"),
    (
        "amd",
        {"machine_detection": "Maybe"},
        21207,
        "MachineDetection must be one of Enable, DetectMessageEnd",
    ),
    (
        "amd-timeout-low",
        {"machine_detection_timeout": 0},
        21200,
        "MachineDetectionTimeout must be between 1 and 120",
    ),
    ("amd-timeout-high", {"machine_detection_timeout": 121}, 21200, "between 1 and 120"),
    ("speech-low", {"machine_detection_speech_threshold": 999}, 21200, "between 1000 and 6000"),
    ("speech-high", {"machine_detection_speech_threshold": 6001}, 21200, "between 1000 and 6000"),
    ("speech-end-low", {"machine_detection_speech_end_threshold": 499}, 21200, "between 500 and 5000"),
    ("speech-end-high", {"machine_detection_speech_end_threshold": 5001}, 21200, "between 500 and 5000"),
    ("silence-low", {"machine_detection_silence_timeout": 1999}, 21200, "between 2000 and 10000"),
    ("silence-high", {"machine_detection_silence_timeout": 10001}, 21200, "between 2000 and 10000"),
    ("async-amd", {"async_amd": "sometimes"}, 21200, "AsyncAmd must be true or false"),
    ("async-amd-yes", {"async_amd": "yes"}, 21200, "AsyncAmd must be true or false: yes"),
    ("async-amd-callback", {"async_amd_status_callback": "nope"}, 21205, "AsyncAmdStatusCallback"),
    ("async-amd-method", {"async_amd_status_callback_method": "X"}, 21209, "AsyncAmdStatusCallbackMethod"),
    ("time-limit", {"time_limit": 0}, 21200, "TimeLimit must be between 1 and 86400"),
    ("byoc", {"byoc": "BYnothex"}, 21300, "Byoc is not valid"),
    ("byoc-unknown", {"byoc": "BY" + "b" * 32}, 21300, "names no BYOC trunk of this account"),
    ("call-token", {"call_token": "eyJhIjoxfQ"}, 21200, "CallToken is not valid"),
    ("call-reason-two-lines", {"call_reason": "Your order\r\nX-Evil: 1"}, 21200,
     "CallReason must be one line of text"),
    ("to-client", {"to": "client:alice"}, 21211,
     "The client you are attempting to call, client:alice, is not registered."),
    ("app-sid-format", {"url": None, "application_sid": "AP123"}, 21218, "ApplicationSid is invalid: AP123"),
    ("app-unknown", {"url": None, "application_sid": "AP" + "1" * 32}, 21218, "ApplicationSid is invalid"),
    (
        "twiml-too-long",
        {"url": None, "twiml": "<Response>" + "<Pause/>" * 500 + "</Response>"},
        32018,
        "Twiml size exceeded maximum allowed value of 4000 characters",
    ),
    (
        "twiml-malformed",
        {"url": None, "twiml": "<Response><Say>hi</Response>"},
        12100,
        "not a well-formed XML",
    ),
    ("twiml-wrong-root", {"url": None, "twiml": "<Say>hi</Say>"}, 12100, "<Response> as its root"),
    (
        "twiml-entity-bomb",
        {"url": None, "twiml": '<!DOCTYPE r [<!ENTITY a "aaaa">]><Response>&a;</Response>'},
        12100,
        "forbidden XML construct",
    ),
]


@pytest.mark.parametrize(("changes", "code", "words"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_create_rejects_bad_input(twilio, changes, code, words):
    params = {k: v for k, v in (OK | changes).items() if v is not None}
    with pytest.raises(TwilioRestException) as info:
        twilio.calls.create(**params)
    assert (info.value.status, info.value.code) == (400, code)
    assert words in info.value.msg
    assert twilio.calls.list() == []  # nothing stored


def test_max_price_per_minute_pattern(live, account):
    sid = TWILIO.render_account(account.id)
    url = f"{live.base_url}/2010-04-01/Accounts/{sid}/Calls.json"
    base = {"To": "+14155550100", "From": "+14155550199", "Url": "https://example.com/v"}
    bad = httpx.post(url, data=base | {"MaxPricePerMinute": "0.12345"}, auth=(sid, account.auth_token))
    assert bad.status_code == 400 and bad.json()["code"] == 21200
    good = httpx.post(url, data=base | {"MaxPricePerMinute": "0.0125"}, auth=(sid, account.auth_token))
    assert good.status_code == 201


def test_error_body_is_exactly_twilios(live, account):
    sid = TWILIO.render_account(account.id)
    r = httpx.post(
        f"{live.base_url}/2010-04-01/Accounts/{sid}/Calls.json",
        data={"From": "+14155550199", "Url": "https://example.com/v"},
        auth=(sid, account.auth_token),
    )
    assert r.status_code == 400
    assert r.json() == {
        "code": 21201,
        "message": "No 'To' number is specified",
        "more_info": "https://www.twilio.com/docs/errors/21201",
        "status": 400,
    }


def test_wrong_token_is_401(live, account):
    client = twilio_client(live, account, token="0" * 32)
    with pytest.raises(TwilioRestException) as info:
        client.calls.create(**OK)
    assert (info.value.status, info.value.code) == (401, 20003)
    with pytest.raises(TwilioRestException) as info:
        client.calls("CA" + "0" * 32).fetch()
    assert (info.value.status, info.value.code) == (401, 20003)


@pytest.mark.parametrize(
    "auth_header",
    [None, "Bearer abc", "Basic !!!", "Basic " + "YWJj"],  # no header, other scheme, bad base64, no colon
)
def test_missing_or_malformed_credentials(live, account, auth_header):
    sid = TWILIO.render_account(account.id)
    headers = {"Authorization": auth_header} if auth_header else {}
    r = httpx.get(f"{live.base_url}/2010-04-01/Accounts/{sid}/Calls.json", headers=headers)
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == 'Basic realm="Twilio API"'
    assert r.json()["code"] == 20003 and r.json()["status"] == 401


def test_credentials_of_another_account_in_the_path(live, account, other_account):
    path_sid = TWILIO.render_account(other_account.id)
    r = httpx.get(
        f"{live.base_url}/2010-04-01/Accounts/{path_sid}/Calls.json",
        auth=(TWILIO.render_account(account.id), account.auth_token),
    )
    assert r.status_code == 401 and r.json()["code"] == 20003


def test_unknown_account_is_401_not_404(live):
    sid = "AC" + "9" * 32
    r = httpx.get(f"{live.base_url}/2010-04-01/Accounts/{sid}/Calls.json", auth=(sid, "x" * 32))
    assert r.status_code == 401 and r.json()["code"] == 20003


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"PageSize": "1001"}, 20007),
        ({"PageSize": "0"}, 20007),
        ({"PageToken": "garbage"}, 21481),
        ({"Status": "ringin"}, 20001),
        ({"StartTime>": "yesterday"}, 20001),
        ({"EndTime": "2026-13-01"}, 20001),
        ({"ParentCallSid": "CA123"}, 20001),
        ({"Page": "-1"}, 20001),
        # blank values of a fixed form are bad values, not absent ones
        ({"PageToken": ""}, 21481),
        ({"Status": ""}, 20001),
        ({"PageSize": ""}, 20007),
        ({"StartTime": ""}, 20001),
        ({"ParentCallSid": ""}, 20001),
        # dates are YYYY-MM-DD or RFC 3339 date-times (with their offset)
        ({"StartTime<": "2026-11-22T10:00"}, 20001),
        ({"EndTime>": "2026-11-22 10:00:00Z"}, 20001),
    ],
)
def test_list_rejects_bad_filters(live, account, params, code):
    sid = TWILIO.render_account(account.id)
    r = httpx.get(
        f"{live.base_url}/2010-04-01/Accounts/{sid}/Calls.json", params=params, auth=(sid, account.auth_token)
    )
    assert r.status_code == 400
    assert r.json()["code"] == code


@pytest.mark.parametrize(
    "params",
    [
        {"StartTime>": "0001-01-01T00:00:00+23:59"},  # before the first instant a UTC datetime can hold
        {"EndTime<": "9999-12-31T23:59:59-23:59"},
        {"StartTime": "2026-11-22t10:00:00.123456789z"},
        {"StartTime": "2026-11-22", "EndTime>": "2026-11-22T10:00:00+05:30"},
    ],
)
def test_list_takes_every_rfc3339_date_time(live, account, params):
    sid = TWILIO.render_account(account.id)
    r = httpx.get(
        f"{live.base_url}/2010-04-01/Accounts/{sid}/Calls.json", params=params, auth=(sid, account.auth_token)
    )
    assert (r.status_code, r.json()["calls"]) == (200, [])


def test_update_rejects_bad_input_and_keeps_the_call(twilio):
    call = twilio.calls.create(**OK)
    for kwargs, code in (
        ({"status": "ringing"}, 21200),
        ({"url": "nope"}, 21205),
        ({"method": "PUT"}, 21209),
        ({"twiml": "<Response>"}, 12100),
        ({"time_limit": -5}, 21200),
    ):
        with pytest.raises(TwilioRestException) as info:
            twilio.calls(call.sid).update(**kwargs)
        assert (info.value.status, info.value.code) == (400, code), kwargs
    fetched = twilio.calls(call.sid).fetch()
    assert fetched.status == "queued"


def test_unknown_call_sid_forms_are_404(live, account, twilio):
    sid = TWILIO.render_account(account.id)
    for call_sid in ("CA" + "0" * 32, "CAnothex", "not-a-sid"):
        r = httpx.get(
            f"{live.base_url}/2010-04-01/Accounts/{sid}/Calls/{call_sid}.json", auth=(sid, account.auth_token)
        )
        assert r.status_code == 404
        assert (
            r.json()["message"]
            == f"The requested resource /2010-04-01/Accounts/{sid}/Calls/{call_sid}.json was not found"
        )


def test_method_not_allowed_uses_the_vendor_body(live, account):
    sid = TWILIO.render_account(account.id)
    r = httpx.put(f"{live.base_url}/2010-04-01/Accounts/{sid}/Calls.json", auth=(sid, account.auth_token))
    assert r.status_code == 405 and r.json()["code"] == 20004


@pytest.mark.parametrize(
    "method, path, allow",
    [
        ("PUT", "/Calls.json", "GET, POST"),
        ("TRACE", "/Calls", "GET, POST"),
        ("PATCH", "/Calls/CA" + "0" * 32 + ".json", "GET, POST, DELETE"),
        ("OPTIONS", "/Applications/AP" + "0" * 32, "GET, POST, DELETE"),
        ("DELETE", "/Applications.json", "GET, POST"),
        ("POST", "/Recordings.json", "GET"),
        ("TRACE", "/Notifications/NO" + "0" * 32 + ".json", "GET"),
    ],
)
def test_method_not_allowed_names_the_methods_the_resource_takes(live, account, method, path, allow):
    # RFC 9110 15.5.6: a 405 carries Allow.
    sid = TWILIO.render_account(account.id)
    url = f"{live.base_url}/2010-04-01/Accounts/{sid}{path}"
    r = httpx.request(method, url, auth=(sid, account.auth_token))
    assert (r.status_code, r.json()["code"], r.headers.get("allow")) == (405, 20004, allow)


def test_method_not_allowed_outside_the_api_names_the_route_methods(live):
    r = httpx.post(f"{live.base_url}/openapi.json")
    assert (r.status_code, r.json()["code"]) == (405, 20004)
    assert set(r.headers["allow"].split(", ")) == {"GET", "HEAD"}


def test_wrong_content_type_is_refused(live, account):
    sid = TWILIO.render_account(account.id)
    r = httpx.post(
        f"{live.base_url}/2010-04-01/Accounts/{sid}/Calls.json",
        content=b"<x/>",
        headers={"Content-Type": "text/xml"},
        auth=(sid, account.auth_token),
    )
    assert r.status_code == 400 and r.json()["code"] == 20001


def test_json_body_is_accepted(live, account):
    sid = TWILIO.render_account(account.id)
    url = f"{live.base_url}/2010-04-01/Accounts/{sid}/Calls.json"
    body = {
        "To": "+14155550100",
        "From": "+14155550199",
        "Url": "https://example.com/v",
        "StatusCallbackEvent": ["ringing", "answered"],
        "Record": True,
        "Timeout": 20,
    }
    r = httpx.post(url, json=body, auth=(sid, account.auth_token))
    assert r.status_code == 201, r.text
    r = httpx.post(url, json=body | {"Timeout": 0}, auth=(sid, account.auth_token))
    assert r.status_code == 400 and r.json()["code"] == 21208
    r = httpx.post(
        url, content=b"[1]", headers={"Content-Type": "application/json"}, auth=(sid, account.auth_token)
    )
    assert r.status_code == 400 and r.json()["code"] == 20001


def test_nul_characters_are_refused(live, account):
    sid = TWILIO.render_account(account.id)
    url = f"{live.base_url}/2010-04-01/Accounts/{sid}/Calls.json"
    r = httpx.post(
        url,
        data={"To": "sip:a@b.com;x=\x00", "From": "bob", "Url": "https://e.com/v"},
        auth=(sid, account.auth_token),
    )
    assert r.status_code == 400 and r.json()["code"] == 21211
    r = httpx.get(url, params={"To": "a\x00b"}, auth=(sid, account.auth_token))
    assert r.status_code == 400


def test_far_dates_and_huge_page_tokens(live, account):
    sid = TWILIO.render_account(account.id)
    url = f"{live.base_url}/2010-04-01/Accounts/{sid}/Calls.json"
    r = httpx.get(
        url, params={"StartTime<": "9999-12-31", "EndTime": "9999-12-31"}, auth=(sid, account.auth_token)
    )
    assert r.status_code == 200 and r.json()["calls"] == []
    r = httpx.get(url, params={"PageToken": "PA9999999999999999999"}, auth=(sid, account.auth_token))
    assert r.status_code == 400 and r.json()["code"] == 21481


@pytest.mark.parametrize(
    ("field", "value", "code"),
    [
        ("To", "sip:" + "a" * 600 + "@example.com", 21211),
        ("From", "sip:" + "b" * 600 + "@example.com", 21212),
        ("Url", "https://example.com/" + "c" * 5000, 21205),
    ],
)
def test_overlong_values_are_parameter_errors_on_both_stores(live, account, field, value, code):
    sid = TWILIO.render_account(account.id)
    data = {"To": "sip:bob@example.com", "From": "alice", "Url": "https://example.com/v"} | {field: value}
    r = httpx.post(
        f"{live.base_url}/2010-04-01/Accounts/{sid}/Calls.json", data=data, auth=(sid, account.auth_token)
    )
    assert r.status_code == 400 and r.json()["code"] == code


def test_a_body_over_one_megabyte_is_refused_before_it_is_read(live, account):
    sid = TWILIO.render_account(account.id)
    r = httpx.post(
        f"{live.base_url}/2010-04-01/Accounts/{sid}/Calls.json",
        content=b"To=" + b"1" * (1 << 20),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        auth=(sid, account.auth_token),
    )
    assert r.status_code == 400 and "larger than" in r.json()["message"]


def test_an_unexpected_fault_answers_the_vendor_error_body(live, account, twilio, monkeypatch):
    async def broken(*_args, **_kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(live.services.calls, "create", broken)
    with pytest.raises(TwilioRestException) as info:
        twilio.calls.create(**OK)
    assert (info.value.status, info.value.code) == (500, 20500)
    assert "boom" not in info.value.msg


def test_unknown_paths_answer_in_the_faces_shape(live):
    r = httpx.get(f"{live.base_url}/2010-04-01/Nowhere.json")
    assert r.status_code == 404 and r.json()["code"] == 20404 and "more_info" in r.json()
    r = httpx.get(f"{live.base_url}/api/laml/2010-04-01/Nowhere")
    assert r.status_code == 404 and r.json()["more_info"].startswith("https://developer.signalwire.com")
