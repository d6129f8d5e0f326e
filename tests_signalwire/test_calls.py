"""The Calls resource through the SignalWire SDK (signalwire 2.1.1 / twilio 6.54), unchanged.

What the SDK cannot send (Laml, MachineWordsThreshold, AsyncAmdPartialResults, MaxPricePerMinute)
goes over plain HTTP to the documented path /api/laml/2010-04-01/Accounts/{project}/Calls.json.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, date, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

import pytest
from signalwire.voice_response import VoiceResponse
from support import FROM, LAML, TO, VOICE_URL, Account, call_params, sid_to_twilio, twilio_to_sid
from twilio.base.exceptions import TwilioRestException

# Every field the seed's CallResponse requires.
CALL_RESPONSE_FIELDS = {
    "sid",
    "account_sid",
    "date_created",
    "date_updated",
    "parent_call_sid",
    "to",
    "formatted_to",
    "to_formatted",
    "from",
    "formatted_from",
    "from_formatted",
    "phone_number_sid",
    "status",
    "start_time",
    "end_time",
    "duration",
    "price",
    "price_unit",
    "direction",
    "answered_by",
    "api_version",
    "forwarded_from",
    "caller_name",
    "uri",
    "subresource_uris",
    "annotation",
    "group_sid",
    "audio_in_mos",
    "sip_result_code",
    "audio_rtt_avg",
    "audio_rtt_min",
    "audio_rtt_max",
    "audio_out_jitter_min",
    "audio_out_jitter_max",
    "audio_out_jitter_avg",
    "audio_out_lost",
}
AUDIO_METRICS = (
    "audio_in_mos",
    "audio_rtt_avg",
    "audio_rtt_min",
    "audio_rtt_max",
    "audio_out_jitter_min",
    "audio_out_jitter_max",
    "audio_out_jitter_avg",
    "audio_out_lost",
)
RFC2822 = re.compile(r"(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} \+0000")

# Every parameter of the seed's CreateCallRequest, with a valid non-default value.
EVERY_SEED_PARAMETER: list[tuple[str, str]] = [
    ("To", TO),
    ("From", FROM),
    ("Url", VOICE_URL),
    ("Method", "GET"),
    ("FallbackUrl", "https://example.com/fallback.xml"),
    ("FallbackMethod", "GET"),
    ("StatusCallback", "https://example.com/status"),
    ("StatusCallbackMethod", "GET"),
    *[
        ("StatusCallbackEvent", e)
        for e in ("initiated", "ringing", "answered", "completed", "ringing_forwarded", "ringing_queued")
    ],
    ("CallerId", "+14155550123"),
    ("SendDigits", "1234#*wW"),
    ("Timeout", "45"),
    ("MachineDetection", "DetectMessageEnd"),
    ("MachineDetectionTimeout", "45"),
    ("MachineDetectionSpeechThreshold", "3000"),
    ("MachineDetectionSpeechEndThreshold", "1500"),
    ("MachineDetectionSilenceTimeout", "6000"),
    ("MachineWordsThreshold", "8"),
    ("AsyncAmd", "true"),
    ("AsyncAmdStatusCallback", "https://example.com/amd"),
    ("AsyncAmdStatusCallbackMethod", "GET"),
    ("AsyncAmdPartialResults", "true"),
    ("Record", "true"),
    ("RecordingChannels", "dual"),
    ("RecordingTrack", "inbound"),
    ("RecordingStatusCallback", "https://example.com/recording"),
    ("RecordingStatusCallbackMethod", "GET"),
    ("RecordingStatusCallbackEvent", "in-progress completed absent"),  # space-separated, as the seed says
    ("Trim", "do-not-trim"),
    ("SipAuthUsername", "alice"),
    ("SipAuthPassword", "s3cret"),
    ("MaxPricePerMinute", "0.0125"),
]


def assert_rfc2822_now(value: Any) -> None:
    assert isinstance(value, str) and RFC2822.fullmatch(value), value
    moment = parsedate_to_datetime(value)
    assert abs(datetime.now(UTC) - moment) < timedelta(minutes=5), value


def assert_call_response(
    body: dict[str, Any], account: Account, to: str = TO, from_: str = FROM, status: str = "queued"
) -> None:
    """The seed's CallResponse, field by field, for an outbound call that has not been placed yet."""
    assert set(body) == CALL_RESPONSE_FIELDS
    sid = body["sid"]
    assert str(uuid.UUID(sid)) == sid  # canonical lower-case UUID
    assert body["account_sid"] == account.project_id
    assert_rfc2822_now(body["date_created"])
    assert_rfc2822_now(body["date_updated"])
    assert body["parent_call_sid"] is None
    assert body["to"] == to
    assert body["from"] == from_
    assert body["formatted_to"] == body["to_formatted"]
    assert body["formatted_from"] == body["from_formatted"]
    assert body["phone_number_sid"] is None
    assert body["status"] == status
    assert body["start_time"] is None
    assert body["duration"] == 0
    assert body["price"] is None
    assert body["price_unit"] == "USD"
    assert body["direction"] == "outbound"  # the seed's CallDirection enum: inbound | outbound
    assert body["answered_by"] is None
    assert body["api_version"] == "2010-04-01"
    assert body["forwarded_from"] is None
    assert body["caller_name"] is None
    uri = f"/api/laml/2010-04-01/Accounts/{account.project_id}/Calls/{sid}"
    assert body["uri"] == uri
    assert body["subresource_uris"] == {"notifications": None, "recordings": f"{uri}/Recordings"}
    assert body["annotation"] is None
    assert body["group_sid"] is None
    assert body["sip_result_code"] is None
    for metric in AUDIO_METRICS:
        assert body[metric] is None, metric


# Create


def test_create_with_every_seed_parameter(account: Account) -> None:
    response = account.laml.post("/Calls.json", EVERY_SEED_PARAMETER)
    assert response.status_code == 200, response.text  # the seed documents 200
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert_call_response(body, account)
    assert body["formatted_to"] == "(415) 555-0100"
    assert body["formatted_from"] == "(415) 555-0199"
    assert body["end_time"] is None


def test_create_through_the_sdk_with_every_parameter_it_knows(client: Any, account: Account) -> None:
    call = client.calls.create(
        to=TO,
        from_=FROM,
        url=VOICE_URL,
        method="GET",
        fallback_url="https://example.com/fallback.xml",
        fallback_method="GET",
        status_callback="https://example.com/status",
        status_callback_event=["initiated", "ringing", "answered", "completed", "ringing_forwarded"],
        status_callback_method="GET",
        send_digits="9w9W#*",
        timeout=600,
        record=True,  # sent as "True": booleans are parsed case-insensitively
        recording_channels="mono",
        recording_status_callback="https://example.com/recording",
        recording_status_callback_method="POST",
        recording_status_callback_event=["in-progress", "completed"],
        sip_auth_username="bob",
        sip_auth_password="pa55",
        machine_detection="Enable",
        machine_detection_timeout=120,
        trim="trim-silence",
        caller_id="+14155550123",
        machine_detection_speech_threshold=6000,
        machine_detection_speech_end_threshold=5000,
        machine_detection_silence_timeout=10000,
        async_amd=False,
        async_amd_status_callback="https://example.com/amd",
        async_amd_status_callback_method="POST",
        recording_track="both",
    )
    assert str(uuid.UUID(call.sid)) == call.sid
    assert call.account_sid == account.project_id
    assert call.status == "queued"
    assert call.to == TO
    assert call.from_ == FROM
    assert call.to_formatted == "(415) 555-0100"
    assert call.from_formatted == "(415) 555-0199"
    assert call.direction == "outbound"
    assert call.price is None
    assert call.price_unit == "USD"
    assert call.api_version == "2010-04-01"
    assert call.start_time is None and call.end_time is None
    assert isinstance(call.date_created, datetime)  # RFC 2822, parsed by the SDK
    assert abs(datetime.now(UTC) - call.date_created) < timedelta(minutes=5)
    assert call.uri == f"/api/laml/2010-04-01/Accounts/{account.project_id}/Calls/{call.sid}"
    assert call.subresource_uris == {"notifications": None, "recordings": f"{call.uri}/Recordings"}


def test_create_with_inline_laml(account: Account) -> None:
    response = account.laml.post("/Calls.json", call_params(Url=None, Laml=LAML))
    assert response.status_code in (200, 201), response.text
    assert_call_response(response.json(), account)


def test_create_with_twiml_from_the_sdk(client: Any) -> None:
    response = VoiceResponse()
    response.say("Hello")
    response.hangup()
    document = str(response)
    assert document.startswith("<?xml")  # the SDK's builder adds the XML declaration
    call = client.calls.create(to=TO, from_=FROM, twiml=document)
    assert call.status == "queued"
    assert client.calls(call.sid).fetch().sid == call.sid


def test_create_to_sip_and_client_addresses(client: Any, account: Account) -> None:
    sip = client.calls.create(to="sip:alice@example.com", from_="callgate", url=VOICE_URL)
    assert sip.to == "sip:alice@example.com"
    assert sip.from_ == "callgate"
    assert sip.to_formatted == "sip:alice@example.com"
    # No client registers with Callgate yet: a client callee is refused at create, not failed later.
    refused = account.laml.post("/Calls.json", call_params(To="client:agent_7"))
    assert [e["code"] for e in refused.json()["errors"]] == ["21211"]
    assert "client:agent_7, is not registered" in refused.json()["errors"][0]["message"]


def test_amd_none_and_range_bounds_are_accepted(account: Account) -> None:
    """The lowest and highest value of every ranged parameter, and the seed's MachineDetection=none."""
    low = call_params(
        Timeout="1",
        MachineDetection="none",
        MachineDetectionTimeout="1",
        MachineDetectionSpeechThreshold="1000",
        MachineDetectionSpeechEndThreshold="500",
        MachineDetectionSilenceTimeout="2000",
        MachineWordsThreshold="1",
        MaxPricePerMinute="1",
    )
    high = call_params(
        Timeout="600",
        MachineDetection="Enable",
        MachineDetectionTimeout="120",
        MachineDetectionSpeechThreshold="6000",
        MachineDetectionSpeechEndThreshold="5000",
        MachineDetectionSilenceTimeout="10000",
        MachineWordsThreshold="100",
        MaxPricePerMinute="12.3456",
    )
    for form in (low, high):
        response = account.laml.post("/Calls.json", form)
        assert response.status_code in (200, 201), response.text


# Fetch


def test_fetch_returns_the_created_call(client: Any, account: Account) -> None:
    created = account.laml.post("/Calls.json", call_params(To="+14155550142")).json()
    fetched = client.calls(created["sid"]).fetch()
    assert fetched.sid == created["sid"]
    assert fetched.to == "+14155550142"
    assert fetched.status == "queued"
    assert fetched.date_created == parsedate_to_datetime(created["date_created"])
    # Both path forms, with and without .json, under /api/laml.
    for path in (f"/Calls/{created['sid']}.json", f"/Calls/{created['sid']}"):
        response = account.laml.get(path)
        assert response.status_code == 200, path
        assert response.json() == created


def test_fetch_unknown_call_is_404(client: Any) -> None:
    with pytest.raises(TwilioRestException) as info:
        client.calls(str(uuid.uuid4())).fetch()
    assert info.value.status == 404
    assert info.value.code == 20404


# List


def _sids(calls: list[Any]) -> set[str]:
    return {c.sid for c in calls}


def test_list_filters(fresh_account: Account) -> None:
    client = fresh_account.client()
    a = client.calls.create(to="+14155550101", from_="+14155550199", url=VOICE_URL)
    b = client.calls.create(to="+14155550102", from_="+14155550198", url=VOICE_URL)
    c = client.calls.create(to="+14155550101", from_="+14155550198", url=VOICE_URL)
    assert client.calls(c.sid).update(status="canceled").status == "canceled"

    assert _sids(client.calls.list()) == {a.sid, b.sid, c.sid}
    assert _sids(client.calls.list(to="+14155550101")) == {a.sid, c.sid}
    assert _sids(client.calls.list(from_="+14155550198")) == {b.sid, c.sid}
    assert _sids(client.calls.list(to="+14155550101", from_="+14155550198")) == {c.sid}
    assert _sids(client.calls.list(to="+14155550199")) == set()
    assert _sids(client.calls.list(status="queued")) == {a.sid, b.sid}
    assert _sids(client.calls.list(status="canceled")) == {c.sid}
    assert _sids(client.calls.list(status="completed")) == set()

    # Queued and canceled calls never started: start_time is null, so start-time filters exclude them all.
    long_ago, tomorrow = datetime(2000, 1, 1, tzinfo=UTC), datetime.now(UTC) + timedelta(days=1)
    assert client.calls.list(start_time_after=long_ago) == []
    assert client.calls.list(start_time_before=tomorrow) == []
    assert client.calls.list(start_time=date.today()) == []
    # The canceled call has an end time (now); the queued ones do not.
    assert _sids(client.calls.list(end_time_after=long_ago)) == {c.sid}
    assert _sids(client.calls.list(end_time_before=tomorrow)) == {c.sid}
    assert client.calls.list(end_time_before=long_ago) == []


def test_list_two_pages_and_all(fresh_account: Account) -> None:
    client = fresh_account.client()
    created = {client.calls.create(to=f"+1415555020{i}", from_=FROM, url=VOICE_URL).sid for i in range(5)}

    first = client.calls.page(page_size=2)
    first_sids = [c.sid for c in first]  # a page is an iterator: read it once
    assert len(first_sids) == 2
    second = first.next_page()
    assert second is not None
    second_sids = [c.sid for c in second]
    assert len(second_sids) == 2
    third = second.next_page()
    assert third is not None
    third_sids = [c.sid for c in third]
    assert len(third_sids) == 1
    assert third.next_page() is None
    seen = first_sids + second_sids + third_sids
    assert len(seen) == len(set(seen)) == 5
    assert set(seen) == created
    # And back: the page before the last is the second one again.
    back = third.previous_page()
    assert back is not None
    assert [c.sid for c in back] == second_sids

    listed = client.calls.list(page_size=2)
    assert [c.sid for c in listed] == seen
    assert len(client.calls.list(limit=3, page_size=2)) == 3
    assert {c.sid for c in client.calls.stream(page_size=4)} == created


def test_filters_carry_over_to_the_next_page(fresh_account: Account) -> None:
    client = fresh_account.client()
    wanted = {client.calls.create(to="+14155550250", from_=FROM, url=VOICE_URL).sid for _ in range(3)}
    for _ in range(2):
        client.calls.create(to="+14155550251", from_=FROM, url=VOICE_URL)
    first = client.calls.page(to="+14155550250", page_size=2)
    first_sids = [c.sid for c in first]
    second = first.next_page()
    assert second is not None
    second_sids = [c.sid for c in second]
    assert len(first_sids) == 2 and len(second_sids) == 1
    assert set(first_sids + second_sids) == wanted
    assert second.next_page() is None
    assert {c.sid for c in client.calls.list(to="+14155550250", page_size=1)} == wanted


def test_list_page_json_and_next_page_uri(fresh_account: Account) -> None:
    laml = fresh_account.laml
    for i in range(3):
        assert laml.post("/Calls.json", call_params(To=f"+1415555030{i}")).status_code in (200, 201)
    response = laml.get("/Calls.json", params={"PageSize": 2})
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {
        "calls",
        "uri",
        "first_page_uri",
        "next_page_uri",
        "previous_page_uri",
        "page",
        "page_size",
        "start",
        "end",
    }
    assert body["page"] == 0 and body["page_size"] == 2 and body["start"] == 0 and body["end"] == 1
    assert len(body["calls"]) == 2
    assert body["previous_page_uri"] is None
    # twilio 6.54 appends next_page_uri to the base URL: it must not repeat /api/laml.
    next_uri = body["next_page_uri"]
    assert next_uri.startswith(f"/2010-04-01/Accounts/{fresh_account.project_id}/Calls")
    follow = laml.session.get(fresh_account.server.base_url + next_uri, timeout=10)
    assert follow.status_code == 200
    rest = follow.json()
    assert len(rest["calls"]) == 1
    assert rest["next_page_uri"] is None
    assert rest["page"] == 1
    assert {c["sid"] for c in body["calls"]}.isdisjoint({c["sid"] for c in rest["calls"]})


# Update


def test_cancel_a_queued_call(client: Any) -> None:
    call = client.calls.create(to=TO, from_=FROM, url=VOICE_URL)
    updated = client.calls(call.sid).update(status="canceled")
    assert updated.sid == call.sid
    assert updated.status == "canceled"
    assert updated.end_time is not None
    assert updated.start_time is None
    assert client.calls(call.sid).fetch().status == "canceled"


def test_redirect_a_queued_call(client: Any, account: Account) -> None:
    call = client.calls.create(to=TO, from_=FROM, url=VOICE_URL)
    updated = client.calls(call.sid).update(url="https://example.com/next.xml", method="GET")
    assert updated.status == "queued"
    assert updated.sid == call.sid
    # An inline document replaces it too, under either name.
    response = account.laml.post(f"/Calls/{call.sid}.json", {"Laml": LAML})
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "queued"
    updated = client.calls(call.sid).update(twiml=LAML)
    assert updated.status == "queued"


def test_a_canceled_call_cannot_be_updated(client: Any, account: Account) -> None:
    call = client.calls.create(to=TO, from_=FROM, url=VOICE_URL)
    client.calls(call.sid).update(status="canceled")
    with pytest.raises(TwilioRestException) as info:
        client.calls(call.sid).update(url="https://example.com/next.xml")
    assert info.value.status == 422
    assert info.value.code == 21220
    with pytest.raises(TwilioRestException) as info:
        client.calls(call.sid).update(status="completed")
    assert info.value.status == 422
    assert info.value.code == 21220
    assert client.calls(call.sid).fetch().status == "canceled"


def test_update_unknown_call_is_404(client: Any) -> None:
    with pytest.raises(TwilioRestException) as info:
        client.calls(str(uuid.uuid4())).update(status="canceled")
    assert info.value.status == 404
    assert info.value.code == 20404


# Delete


def test_delete_a_queued_call_is_refused(client: Any) -> None:
    call = client.calls.create(to=TO, from_=FROM, url=VOICE_URL)
    with pytest.raises(TwilioRestException) as info:
        client.calls(call.sid).delete()
    assert info.value.status == 422
    assert info.value.code == 20009
    assert client.calls(call.sid).fetch().status == "queued"


def test_delete_an_ended_call(client: Any) -> None:
    call = client.calls.create(to=TO, from_=FROM, url=VOICE_URL)
    client.calls(call.sid).update(status="canceled")
    assert client.calls(call.sid).delete() is True
    with pytest.raises(TwilioRestException) as info:
        client.calls(call.sid).fetch()
    assert info.value.status == 404
    assert info.value.code == 20404
    assert call.sid not in _sids(client.calls.list())
    with pytest.raises(TwilioRestException) as info:
        client.calls(call.sid).delete()
    assert info.value.status == 404
    assert info.value.code == 20404


# One account, two faces


def test_a_call_created_through_the_twilio_face_is_seen_by_the_sdk(client: Any, account: Account) -> None:
    response = account.twilio.post("/Calls.json", call_params(To="+14155550177"))
    assert response.status_code == 201, response.text
    twilio_call = response.json()
    assert twilio_call["account_sid"] == account.account_sid
    sid = twilio_to_sid(twilio_call["sid"])
    fetched = client.calls(sid).fetch()
    assert fetched.sid == sid
    assert fetched.account_sid == account.project_id
    assert fetched.to == "+14155550177"
    assert fetched.status == twilio_call["status"] == "queued"
    assert sid in _sids(client.calls.list(to="+14155550177"))


def test_a_call_created_by_the_sdk_is_seen_through_the_twilio_face(client: Any, account: Account) -> None:
    call = client.calls.create(to="+14155550178", from_=FROM, url=VOICE_URL)
    response = account.twilio.get(f"/Calls/{sid_to_twilio(call.sid)}.json")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["sid"] == sid_to_twilio(call.sid)
    assert body["account_sid"] == account.account_sid
    assert body["to"] == "+14155550178"
    assert body["status"] == "queued"
    # A cancel through one face shows through the other.
    canceled = account.twilio.post(f"/Calls/{sid_to_twilio(call.sid)}.json", {"Status": "canceled"})
    assert canceled.status_code == 200, canceled.text
    assert client.calls(call.sid).fetch().status == "canceled"


def test_the_sdk_path_without_api_laml_serves_the_signalwire_face(account: Account) -> None:
    """The SDK requests /2010-04-01/... with the project UUID; the body is still SignalWire's."""
    created = account.laml.post("/Calls.json", call_params()).json()
    path = f"/2010-04-01/Accounts/{account.project_id}/Calls/{created['sid']}.json"
    plain = account.laml.session.get(account.server.base_url + path, timeout=10)
    assert plain.status_code == 200
    assert plain.json() == created


# Restart


def test_calls_survive_a_restart(fresh_account: Account) -> None:
    client = fresh_account.client()
    sids = [client.calls.create(to=f"+1415555040{i}", from_=FROM, url=VOICE_URL).sid for i in range(3)]
    client.calls(sids[0]).update(status="canceled")
    before = {c.sid: (c.status, c.date_created, c.to) for c in client.calls.list()}
    assert set(before) == set(sids)

    fresh_account.server.restart()

    after = {c.sid: (c.status, c.date_created, c.to) for c in client.calls.list()}
    assert after == before
    for sid in sids:
        fetched = client.calls(sid).fetch()
        assert (fetched.status, fetched.date_created, fetched.to) == before[sid]
    assert before[sids[0]][0] == "canceled"
    # The restarted server still takes new calls for the same account.
    assert client.calls.create(to=TO, from_=FROM, url=VOICE_URL).status == "queued"
    assert len(client.calls.list()) == 4
