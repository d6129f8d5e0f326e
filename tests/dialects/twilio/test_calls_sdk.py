"""The Calls resource driven by the real twilio 9.13 SDK, unchanged, on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

import httpx
import pytest
from twilio.base.exceptions import TwilioRestException

from callgate.core.events import CallAnswered, CallInitiated, CallRinging
from callgate.dialects.twilio.face import TWILIO
from tests.conftest import BYOC_SID, twilio_client

pytestmark = pytest.mark.sdk

TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response><Say>Hello from Callgate</Say></Response>'
CALL_FIELDS = {
    "sid",
    "date_created",
    "date_updated",
    "parent_call_sid",
    "account_sid",
    "to",
    "to_formatted",
    "from",
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
    "group_sid",
    "caller_name",
    "queue_time",
    "trunk_sid",
    "uri",
    "subresource_uris",
}


def create(twilio, **kw):
    params = {"to": "+14155550100", "from_": "+14155550199", "url": "https://example.com/voice"} | kw
    return twilio.calls.create(**params)


def test_create_with_every_parameter(twilio, live, account):
    call = twilio.calls.create(
        to="+14155550100",
        from_="+14155550199",
        url="https://example.com/voice.xml",
        method="GET",
        fallback_url="https://example.com/fallback",
        fallback_method="POST",
        status_callback="https://example.com/status",
        status_callback_event=["initiated", "ringing", "answered", "completed"],
        status_callback_method="GET",
        send_digits="ww1234#",
        timeout=25,
        record=True,
        recording_channels="dual",
        recording_status_callback="https://example.com/rec",
        recording_status_callback_method="GET",
        sip_auth_username="alice",
        sip_auth_password="secret",
        machine_detection="DetectMessageEnd",
        machine_detection_timeout=45,
        recording_status_callback_event=["in-progress", "completed"],
        trim="do-not-trim",
        caller_id="+14155550198",
        machine_detection_speech_threshold=3000,
        machine_detection_speech_end_threshold=1500,
        machine_detection_silence_timeout=6000,
        async_amd="true",
        async_amd_status_callback="https://example.com/amd",
        async_amd_status_callback_method="GET",
        byoc=BYOC_SID,  # CallToken is left out: no call token is valid yet
        call_reason="Appointment reminder",
        recording_track="inbound",
        time_limit=600,
        client_notification_url="https://example.com/notify",
    )
    assert call.sid.startswith("CA") and len(call.sid) == 34
    assert call.account_sid == TWILIO.render_account(account.id)
    assert call.status == "queued"
    assert call.direction == "outbound-api"
    assert (call.to, call._from) == ("+14155550100", "+14155550199")
    assert (call.to_formatted, call.from_formatted) == ("(415) 555-0100", "(415) 555-0199")
    assert call.api_version == "2010-04-01"
    assert call.price is None and call.price_unit == "USD"
    assert call.start_time is None and call.end_time is None and call.duration is None
    assert abs(call.date_created - datetime.now(UTC)) < timedelta(minutes=1)

    # Every parameter reached the store, typed.
    stored = live.run(live.services.calls.get(account.id, uuid.UUID(hex=call.sid[2:])))
    o = stored.options
    assert (o.url, o.method, o.fallback_url, o.fallback_method) == (
        "https://example.com/voice.xml",
        "GET",
        "https://example.com/fallback",
        "POST",
    )
    assert o.status_callback_events == ("initiated", "ringing", "answered", "completed")
    assert (o.status_callback, o.status_callback_method) == ("https://example.com/status", "GET")
    assert (o.send_digits, o.timeout_s, o.time_limit_s) == ("ww1234#", 25, 600)
    assert (o.record, o.recording_channels, o.recording_track, o.trim) == (
        True,
        "dual",
        "inbound",
        "do-not-trim",
    )
    assert o.recording_status_callback_events == ("in-progress", "completed")
    assert (o.sip_auth_username, o.sip_auth_password) == ("alice", "secret")
    assert (o.machine_detection, o.machine_detection_timeout_s) == ("DetectMessageEnd", 45)
    assert (o.machine_detection_speech_threshold_ms, o.machine_detection_speech_end_threshold_ms) == (
        3000,
        1500,
    )
    assert o.machine_detection_silence_timeout_ms == 6000
    assert (o.async_amd, o.async_amd_status_callback, o.async_amd_status_callback_method) == (
        True,
        "https://example.com/amd",
        "GET",
    )
    assert (o.caller_id, o.byoc, o.call_reason, o.call_token) == (
        "+14155550198",
        BYOC_SID,
        "Appointment reminder",
        None,
    )
    assert o.client_notification_url == "https://example.com/notify"


def test_response_has_every_field_of_the_call_schema(live, account):
    auth = (TWILIO.render_account(account.id), account.auth_token)
    body = {"To": "+442071838750", "From": "+14155550199", "Twiml": TWIML}
    r = httpx.post(f"{live.base_url}/2010-04-01/Accounts/{auth[0]}/Calls.json", data=body, auth=auth)
    assert r.status_code == 201
    call = r.json()
    assert set(call) == CALL_FIELDS
    assert call["to_formatted"] == "+442071838750"
    assert call["queue_time"] == "0"
    # What an outbound call that has not been placed yet says (docs/COMPATIBILITY.md, the contract table).
    assert call["date_updated"] == call["date_created"]
    for always_null in ("phone_number_sid", "forwarded_from", "group_sid", "caller_name", "trunk_sid"):
        assert call[always_null] is None, always_null
    assert call["parent_call_sid"] is None and call["answered_by"] is None
    parsedate_to_datetime(call["date_created"])  # RFC 2822
    assert call["date_created"].endswith("+0000")
    base = f"/2010-04-01/Accounts/{auth[0]}/Calls/{call['sid']}"
    assert call["uri"] == base + ".json"
    assert call["subresource_uris"]["recordings"] == base + "/Recordings.json"
    assert call["subresource_uris"]["notifications"] == base + "/Notifications.json"


@pytest.mark.parametrize(
    ("to", "from_"),
    [
        ("sip:bob@127.0.0.1:5070", "alice"),
        ("sips:bob@example.com;transport=tls", "+14155550199"),
        ("sip:[::1]:5070", "sip:alice@example.com"),
    ],
)
def test_sip_and_client_endpoints(twilio, to, from_):
    call = create(twilio, to=to, from_=from_)
    assert (call.to, call._from, call.to_formatted) == (to, from_, to)


def test_inline_twiml_and_lowercase_method(twilio):
    call = twilio.calls.create(to="+14155550100", from_="+14155550199", twiml=TWIML)
    assert call.status == "queued"
    call = create(twilio, method="get")
    assert call.status == "queued"


def test_fetch(twilio):
    call = create(twilio)
    fetched = twilio.calls(call.sid).fetch()
    assert (fetched.sid, fetched.to, fetched.status, fetched.date_created) == (
        call.sid,
        call.to,
        "queued",
        call.date_created,
    )


def test_fetch_without_json_suffix(live, account, twilio):
    call = create(twilio)
    sid = TWILIO.render_account(account.id)
    r = httpx.get(
        f"{live.base_url}/2010-04-01/Accounts/{sid}/Calls/{call.sid}", auth=(sid, account.auth_token)
    )
    assert r.status_code == 200 and r.json()["sid"] == call.sid


def test_list_two_pages_in_stable_order(twilio):
    sids = [create(twilio, to=f"+1415555010{n}").sid for n in range(5)]
    newest_first = list(reversed(sids))
    page = twilio.calls.page(page_size=2)
    assert [c.sid for c in page] == newest_first[:2]
    second = page.next_page()
    assert [c.sid for c in second] == newest_first[2:4]
    third = second.next_page()
    assert [c.sid for c in third] == newest_first[4:]
    assert third.next_page() is None
    back = second.previous_page()
    assert [c.sid for c in back] == newest_first[:2]
    # The SDK's own iteration follows next_page_uri through every page.
    assert [c.sid for c in twilio.calls.list(page_size=2)] == newest_first
    assert [c.sid for c in twilio.calls.list(limit=3)] == newest_first[:3]


def test_list_page_keys_and_uris(live, account, twilio):
    for n in range(3):
        create(twilio, to=f"+1415555011{n}")
    sid = TWILIO.render_account(account.id)
    path = f"/2010-04-01/Accounts/{sid}/Calls.json"
    r = httpx.get(
        live.base_url + path, params={"PageSize": 2, "To": "+14155550110"}, auth=(sid, account.auth_token)
    )
    body = r.json()
    assert set(body) == {
        "calls",
        "page",
        "page_size",
        "uri",
        "first_page_uri",
        "next_page_uri",
        "previous_page_uri",
        "start",
        "end",
    }
    assert (body["page"], body["page_size"], body["start"], body["end"]) == (0, 2, 0, 0)
    assert body["next_page_uri"] is None and body["previous_page_uri"] is None
    assert body["first_page_uri"].startswith(path + "?") and "To=%2B14155550110" in body["first_page_uri"]


def test_list_filters(live, account, twilio):
    a = create(twilio, to="+14155550121", from_="+14155550131")
    b = create(twilio, to="+14155550122", from_="+14155550131")
    c = create(twilio, to="+14155550122", from_="+14155550132")
    assert [x.sid for x in twilio.calls.list(to="+14155550122")] == [c.sid, b.sid]
    assert [x.sid for x in twilio.calls.list(from_="+14155550131")] == [b.sid, a.sid]
    assert [x.sid for x in twilio.calls.list(to="+14155550122", from_="+14155550132")] == [c.sid]
    assert [x.sid for x in twilio.calls.list(status="queued")] == [c.sid, b.sid, a.sid]
    assert twilio.calls.list(status="completed") == []

    # Move b along as the engine will: dialed an hour ago, ringing, answered.
    b_id = uuid.UUID(hex=b.sid[2:])
    started = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    calls = live.services.calls
    live.run(calls.apply(account_id=account.id, call_id=b_id, event=CallInitiated(), start_time=started))
    live.run(calls.apply(account_id=account.id, call_id=b_id, event=CallRinging()))
    live.run(calls.apply(account_id=account.id, call_id=b_id, event=CallAnswered()))
    assert [x.sid for x in twilio.calls.list(status="in-progress")] == [b.sid]
    assert [x.sid for x in twilio.calls.list(start_time=started.date())] == [b.sid]
    assert [x.sid for x in twilio.calls.list(start_time_after=started - timedelta(minutes=1))] == [b.sid]
    assert twilio.calls.list(start_time_after=started + timedelta(minutes=1)) == []
    assert [x.sid for x in twilio.calls.list(start_time_before=started + timedelta(minutes=1))] == [b.sid]
    assert twilio.calls.list(start_time_before=started - timedelta(minutes=1)) == []
    assert twilio.calls(b.sid).fetch().start_time == started


def test_parent_call_filter(twilio):
    create(twilio)
    assert twilio.calls.list(parent_call_sid="CA" + "0" * 32) == []


def test_update_cancel_then_refuse(live, account, twilio):
    call = create(twilio)
    canceled = twilio.calls(call.sid).update(status="canceled")
    assert canceled.status == "canceled"
    assert canceled.end_time is not None
    with pytest.raises(TwilioRestException) as info:
        twilio.calls(call.sid).update(status="completed")
    assert (info.value.status, info.value.code) == (400, 21220)
    with pytest.raises(TwilioRestException) as info:
        twilio.calls(call.sid).update(url="https://example.com/other")
    assert (info.value.status, info.value.code) == (400, 21220)
    assert "Cannot redirect" in info.value.msg
    timeline = live.run(live.services.calls.timeline(account.id, uuid.UUID(hex=call.sid[2:])))
    assert [e.name for e in timeline] == ["CallQueued", "CallCanceled"]


def test_update_completed_on_a_queued_call_cancels_it(twilio):
    call = create(twilio)
    assert twilio.calls(call.sid).update(status="completed").status == "canceled"


def test_update_completed_hangs_up_an_answered_call(live, account, twilio):
    call = create(twilio)
    call_id = uuid.UUID(hex=call.sid[2:])
    started = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=42)
    live.run(
        live.services.calls.apply(
            account_id=account.id, call_id=call_id, event=CallInitiated(), start_time=started
        )
    )
    live.run(live.services.calls.apply(account_id=account.id, call_id=call_id, event=CallAnswered()))
    # canceled does not touch an in-progress call (Twilio)
    assert twilio.calls(call.sid).update(status="canceled").status == "in-progress"
    done = twilio.calls(call.sid).update(status="completed")
    assert done.status == "completed"
    assert 42 <= int(done.duration) <= 50
    assert done.end_time is not None


def test_update_redirect_and_callbacks(live, account, twilio):
    call = create(twilio)
    updated = twilio.calls(call.sid).update(
        url="https://example.com/next",
        method="GET",
        fallback_url="https://example.com/fb",
        status_callback="https://example.com/sc",
        status_callback_method="GET",
        time_limit=120,
    )
    assert updated.status == "queued"
    o = live.run(live.services.calls.get(account.id, uuid.UUID(hex=call.sid[2:]))).options
    assert (o.url, o.method, o.fallback_url, o.status_callback, o.time_limit_s) == (
        "https://example.com/next",
        "GET",
        "https://example.com/fb",
        "https://example.com/sc",
        120,
    )
    twilio.calls(call.sid).update(twiml=TWIML)
    o = live.run(live.services.calls.get(account.id, uuid.UUID(hex=call.sid[2:]))).options
    assert (o.url, o.markup) == (None, TWIML)


def test_delete(twilio):
    call = create(twilio)
    with pytest.raises(TwilioRestException) as info:
        twilio.calls(call.sid).delete()
    assert (info.value.status, info.value.code) == (400, 20009)
    assert twilio.calls(call.sid).fetch().status == "queued"  # refused: nothing lost
    twilio.calls(call.sid).update(status="canceled")
    assert twilio.calls(call.sid).delete() is True
    with pytest.raises(TwilioRestException) as info:
        twilio.calls(call.sid).fetch()
    assert (info.value.status, info.value.code) == (404, 20404)


def test_another_accounts_call_is_not_found(live, twilio, other_account):
    call = create(twilio)
    other = twilio_client(live, other_account)
    for action in (
        lambda: other.calls(call.sid).fetch(),
        lambda: other.calls(call.sid).update(status="canceled"),
        lambda: other.calls(call.sid).delete(),
    ):
        with pytest.raises(TwilioRestException) as info:
            action()
        assert (info.value.status, info.value.code) == (404, 20404)
    assert twilio.calls(call.sid).fetch().status == "queued"


def test_call_created_as_twilio_is_readable_as_signalwire(live, account, twilio):
    call = create(twilio)
    project = str(account.id)
    uid = str(uuid.UUID(hex=call.sid[2:]))
    for prefix in ("/api/laml", ""):
        r = httpx.get(
            f"{live.base_url}{prefix}/2010-04-01/Accounts/{project}/Calls/{uid}.json",
            auth=(project, account.signalwire_token),
        )
        assert r.status_code == 200
        assert (r.json()["sid"], r.json()["to"], r.json()["account_sid"]) == (uid, call.to, project)


def test_call_created_as_signalwire_is_readable_as_twilio(live, account, twilio):
    project = str(account.id)
    r = httpx.post(
        f"{live.base_url}/api/laml/2010-04-01/Accounts/{project}/Calls",
        data={"To": "+14155550100", "From": "+14155550199", "Laml": "<Response><Hangup/></Response>"},
        auth=(project, account.signalwire_token),
    )
    assert r.status_code == 200, "SignalWire's seed documents 200 for a created call"
    sid = "CA" + uuid.UUID(r.json()["sid"]).hex
    assert twilio.calls(sid).fetch().to == "+14155550100"
