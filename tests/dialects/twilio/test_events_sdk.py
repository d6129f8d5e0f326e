"""The Call Events and Notifications resources through the twilio SDK (and httpx for raw bodies).

A call, its request log and its notifications are put in place through the store, as the engine
leaves them. The server is Callgate's app with `event_routes` mounted at the faces' usual prefixes,
exactly as `create_app` will mount them.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime, timedelta

import httpx
import pytest
from twilio.base.exceptions import TwilioException, TwilioRestException

from callgate.core.call import Call, CallOptions
from callgate.core.events import CallQueued
from callgate.core.status import CallStatus
from callgate.dialects.signalwire import SIGNALWIRE
from callgate.dialects.twilio.events_api import event_paths, event_routes, snake_case
from callgate.dialects.twilio.face import TWILIO
from callgate.store.base import NotificationRecord, RequestRecord

pytestmark = pytest.mark.sdk

T0 = datetime(2026, 3, 2, 9, 30, 0, tzinfo=UTC)
VOICE_URL = "https://app.example.com/voice"
ACTION_URL = "https://app.example.com/next?step=2"
STATUS_URL = "https://hooks.example.com/status"
TWIML = "<Response><Gather/></Response>"
VERSION = "ApiVersion=2010-04-01"


@pytest.fixture
def server(live):
    """The app serves the Events and Notifications routes itself (`callgate.app`)."""
    return live


@pytest.fixture
def client(twilio):
    return twilio


def put_call(server, account) -> Call:
    call = Call(
        id=uuid.uuid4(), account_id=account.id, to="+14155550100", from_="+14155550199",
        status=CallStatus.COMPLETED, created_at=T0, updated_at=T0, options=CallOptions(url=VOICE_URL),
    )  # fmt: skip
    return server.run(server.services.store.insert_call(call, CallQueued(), T0))


def put_requests(server, call: Call) -> list[RequestRecord]:
    """The voice document (POST), the Gather action (GET, its parameters after the URL's own query)
    and a status callback that got no answer, as the engine logs them."""
    sid, account_sid = TWILIO.render_call(call.id), TWILIO.render_account(call.account_id)
    records = [
        RequestRecord(
            account_id=call.account_id, call_id=call.id, kind="voice", at=T0,
            request={"url": VOICE_URL, "method": "POST",
                     "headers": {"Content-Type": "application/x-www-form-urlencoded"},
                     "body": f"AccountSid={account_sid}&CallSid={sid}&CallStatus=in-progress&{VERSION}"},
            response={"status": 200, "headers": {"Content-Type": "text/xml", "X-Cache": "miss"},
                      "body": TWIML},
            elapsed_ms=42,
        ),
        RequestRecord(
            account_id=call.account_id, call_id=call.id, kind="action", at=T0 + timedelta(seconds=5),
            request={"url": f"{ACTION_URL}&Digits=1234&CallSid={sid}", "method": "GET", "headers": {},
                     "body": ""},
            response={"status": 500, "headers": {"content-type": "text/html", "server": "gunicorn"},
                      "body": "<h1>Server Error</h1>"},
            elapsed_ms=17, error_code=11200,
        ),
        RequestRecord(
            account_id=call.account_id, call_id=call.id, kind="status", at=T0 + timedelta(seconds=9),
            request={"url": STATUS_URL, "method": "POST", "headers": {}, "body": "CallStatus=completed"},
            response={"status": None, "headers": {}, "body": ""},
            elapsed_ms=5000, error_code=11205,
        ),
    ]  # fmt: skip
    for record in records:
        server.run(server.services.store.log_request(record))
    return records


def put_note(server, account_id, call_id, *, at, level="error", code=11200, url=None, method=None, **kw):
    note = NotificationRecord(
        id=uuid.uuid4(), account_id=account_id, call_id=call_id, created_at=at, level=level, code=code,
        message=kw.pop("message", f"HTTP 500 from {url}"), request_url=url, request_method=method, **kw,
    )  # fmt: skip
    server.run(server.services.store.add_notification(note))
    return note


def no_sid(note: NotificationRecord) -> str:
    return "NO" + note.id.hex


def account_path(account) -> str:
    return f"/2010-04-01/Accounts/{TWILIO.render_account(account.id)}"


def auth(account) -> tuple[str, str]:
    return TWILIO.render_account(account.id), account.auth_token


def test_snake_case_names_the_parameters_as_twilio_does():
    names = ["CallSid", "AccountSid", "ApiVersion", "Digits", "SipResponseCode", "AddOns", "ToZip"]
    assert [snake_case(n) for n in names] == [
        "call_sid", "account_sid", "api_version", "digits", "sip_response_code", "add_ons", "to_zip",
    ]  # fmt: skip


def test_events_list_every_request_in_the_order_made(server, account, client):
    call = put_call(server, account)
    put_requests(server, call)
    sid, account_sid = TWILIO.render_call(call.id), TWILIO.render_account(account.id)
    events = client.calls(sid).events.list()
    assert [e.request for e in events] == [
        {"method": "POST", "url": VOICE_URL, "parameters": {
            "account_sid": account_sid, "call_sid": sid, "call_status": "in-progress",
            "api_version": "2010-04-01",
        }},
        {"method": "GET", "url": f"{ACTION_URL}&Digits=1234&CallSid={sid}",
         "parameters": {"step": "2", "digits": "1234", "call_sid": sid}},
        {"method": "POST", "url": STATUS_URL, "parameters": {"call_status": "completed"}},
    ]  # fmt: skip
    assert [e.response for e in events] == [
        {"request_duration": 42, "response_code": 200, "content_type": "text/xml", "response_body": TWIML,
         "date_created": "Mon, 02 Mar 2026 09:30:00 +0000"},
        {"request_duration": 17, "response_code": 500, "content_type": "text/html",
         "response_body": "<h1>Server Error</h1>", "date_created": "Mon, 02 Mar 2026 09:30:05 +0000"},
        {"request_duration": 5000, "response_code": None, "content_type": None, "response_body": "",
         "date_created": "Mon, 02 Mar 2026 09:30:09 +0000"},
    ]  # fmt: skip


def test_events_page_forward_and_back(server, account, client):
    call = put_call(server, account)
    put_requests(server, call)
    sid = TWILIO.render_call(call.id)
    urls = [VOICE_URL, f"{ACTION_URL}&Digits=1234&CallSid={sid}", STATUS_URL]
    assert [e.request["url"] for e in client.calls(sid).events.list(page_size=2)] == urls  # the SDK pages
    first = client.calls(sid).events.page(page_size=2)
    assert [e.request["url"] for e in first] == urls[:2] and first.previous_page_url is None
    second = first.next_page()
    assert [e.request["url"] for e in second] == urls[2:] and second.next_page_url is None
    assert [e.request["url"] for e in second.previous_page()] == urls[:2]
    raw = httpx.get(f"{server.base_url}{account_path(account)}/Calls/{sid}/Events.json", auth=auth(account))
    body = raw.json()
    assert sorted(body) == sorted(
        ["events", "end", "first_page_uri", "next_page_uri", "page", "page_size", "previous_page_uri",
         "start", "uri"]
    )  # fmt: skip
    assert body["uri"] == f"{account_path(account)}/Calls/{sid}/Events.json?PageSize=50&Page=0"
    assert (body["start"], body["end"], body["next_page_uri"]) == (0, 2, None)
    assert sorted(body["events"][0]["response"]) == sorted(
        ["request_duration", "response_code", "content_type", "response_body", "date_created"]
    )
    empty = put_call(server, account)
    assert client.calls(TWILIO.render_call(empty.id)).events.list() == []


def test_notifications_list_newest_first_without_the_http_exchange(server, account, client):
    call = put_call(server, account)
    other_call = put_call(server, account)
    error = put_note(server, account.id, call.id, at=T0 + timedelta(seconds=6), url=ACTION_URL, method="GET")
    warning = put_note(
        server, account.id, call.id, at=T0 + timedelta(days=1), level="warning", code=15003,
        url=STATUS_URL, method="POST", message="Got HTTP 404 response",
    )  # fmt: skip
    elsewhere = put_note(server, account.id, other_call.id, at=T0 + timedelta(days=2), code=11205)
    assert [n.sid for n in client.notifications.list()] == [no_sid(elsewhere), no_sid(warning), no_sid(error)]
    sid = TWILIO.render_call(call.id)
    listed = client.calls(sid).notifications.list()
    assert [n.sid for n in listed] == [no_sid(warning), no_sid(error)]
    got = listed[1]
    assert (got.account_sid, got.call_sid, got.api_version) == (
        TWILIO.render_account(account.id),
        sid,
        "2010-04-01",
    )
    assert (got.error_code, got.log, got.request_method, got.request_url) == ("11200", "0", "GET", ACTION_URL)
    assert got.message_text == (
        "LogLevel=ERROR&Msg=HTTP+500+from+https%3A%2F%2Fapp.example.com%2Fnext%3Fstep%3D2&ErrorCode=11200"
        "&url=https%3A%2F%2Fapp.example.com%2Fnext%3Fstep%3D2"
    )
    assert got.more_info == "https://www.twilio.com/docs/errors/11200"
    assert got.date_created == got.date_updated == got.message_date == T0 + timedelta(seconds=6)
    assert got.uri == f"{account_path(account)}/Calls/{sid}/Notifications/{no_sid(error)}.json"
    assert (listed[0].log, listed[0].error_code) == ("1", "15003")
    assert listed[0].message_text == "LogLevel=WARN&Msg=Got+HTTP+404+response&ErrorCode=15003" + (
        "&url=https%3A%2F%2Fhooks.example.com%2Fstatus"
    )
    of_account = client.notifications.list()[0]
    assert (of_account.request_url, of_account.request_method) == ("", None)
    assert of_account.uri == f"{account_path(account)}/Notifications/{no_sid(elsewhere)}.json"
    raw = httpx.get(f"{server.base_url}{account_path(account)}/Notifications.json", auth=auth(account)).json()
    assert sorted(raw["notifications"][0]) == sorted(
        ["account_sid", "api_version", "call_sid", "date_created", "date_updated", "error_code", "log",
         "message_date", "message_text", "more_info", "request_method", "request_url", "sid", "uri"]
    )  # fmt: skip


def test_notifications_filter_by_log_and_message_date_and_page(server, account, client):
    call = put_call(server, account)
    notes = [
        put_note(
            server, account.id, call.id, at=T0 + timedelta(days=n), level="warning" if n == 1 else "error"
        )
        for n in range(4)
    ]
    newest_first = [no_sid(n) for n in reversed(notes)]
    assert [n.sid for n in client.notifications.list(log=0)] == [
        newest_first[0],
        newest_first[1],
        newest_first[3],
    ]
    assert [n.sid for n in client.notifications.list(log=1)] == [no_sid(notes[1])]
    assert [n.sid for n in client.notifications.list(message_date=date(2026, 3, 3))] == [no_sid(notes[1])]
    # on or before a day takes the whole day; on or after starts at its midnight
    before = client.notifications.list(message_date_before=date(2026, 3, 3))
    assert [n.sid for n in before] == [no_sid(notes[1]), no_sid(notes[0])]
    after = client.calls(TWILIO.render_call(call.id)).notifications.list(message_date_after=date(2026, 3, 4))
    assert [n.sid for n in after] == newest_first[:2]
    both = client.notifications.list(log=0, message_date_after=date(2026, 3, 3))
    assert [n.sid for n in both] == newest_first[:2]
    assert [n.sid for n in client.notifications.list(page_size=3)] == newest_first  # the SDK follows pages
    page = client.notifications.page(page_size=3, log=0)
    assert [n.sid for n in page] == [newest_first[0], newest_first[1], newest_first[3]]
    assert page.next_page_url is None
    bad = httpx.get(f"{server.base_url}{account_path(account)}/Notifications.json", params={"Log": "2"},
                    auth=auth(account))  # fmt: skip
    assert (bad.status_code, bad.json()["code"]) == (400, 20001)
    bad = httpx.get(f"{server.base_url}{account_path(account)}/Notifications.json",
                    params={"MessageDate": "yesterday"}, auth=auth(account))  # fmt: skip
    assert (bad.status_code, bad.json()["code"]) == (400, 20001)


def test_a_fetched_notification_carries_the_http_exchange_it_is_about(server, account, client):
    call = put_call(server, account)
    records = put_requests(server, call)
    sid = TWILIO.render_call(call.id)
    note = put_note(server, account.id, call.id, at=T0 + timedelta(seconds=6), url=ACTION_URL, method="GET")
    got = client.notifications(no_sid(note)).fetch()
    assert (got.sid, got.call_sid, got.error_code, got.log) == (no_sid(note), sid, "11200", "0")
    assert got.request_variables == f"step=2&Digits=1234&CallSid={sid}"  # the GET's query, as sent
    assert got.response_headers == "content-type=text%2Fhtml&server=gunicorn"
    assert got.response_body == records[1].response["body"]
    assert got.uri == f"{account_path(account)}/Notifications/{no_sid(note)}.json"
    of_call = client.calls(sid).notifications(no_sid(note)).fetch()
    assert of_call.uri == f"{account_path(account)}/Calls/{sid}/Notifications/{no_sid(note)}.json"
    assert of_call.request_variables == got.request_variables
    voice = put_note(server, account.id, call.id, at=T0 + timedelta(seconds=1), url=VOICE_URL, method="POST")
    posted = client.notifications(no_sid(voice)).fetch()
    assert posted.request_variables == records[0].request["body"]
    assert posted.response_headers == "Content-Type=text%2Fxml&X-Cache=miss"
    unrelated = put_note(server, account.id, call.id, at=T0, code=21609, url=None)
    plain = client.notifications(no_sid(unrelated)).fetch()
    assert (plain.request_variables, plain.response_headers, plain.response_body) == (None, None, None)
    recorded = put_note(
        server, account.id, call.id, at=T0, url=VOICE_URL,
        detail={"request_variables": "A=1", "response_headers": "B=2", "response_body": "C"},
    )  # fmt: skip
    kept = client.notifications(no_sid(recorded)).fetch()
    assert (kept.request_variables, kept.response_headers, kept.response_body) == ("A=1", "B=2", "C")


def test_other_accounts_calls_and_notifications_are_404(server, account, other_account, client):
    mine = put_call(server, account)
    theirs = put_call(server, other_account)
    put_requests(server, theirs)
    their_note = put_note(server, other_account.id, theirs.id, at=T0)
    my_note = put_note(server, account.id, mine.id, at=T0)
    unknown_call, not_a_sid = "CA" + "0" * 32, "CAnot-a-sid"
    for call_sid in (TWILIO.render_call(theirs.id), unknown_call, not_a_sid):
        for attempt in (client.calls(call_sid).events.list, client.calls(call_sid).notifications.list):
            # a list page the SDK cannot fetch: TwilioException with the response
            with pytest.raises(TwilioException) as failed:
                attempt()
            response = failed.value.args[1]
            assert (response.status_code, json.loads(response.text)["code"]) == (404, 20404)
    for ref in (no_sid(their_note), "NO" + "0" * 32, str(my_note.id)):
        with pytest.raises(TwilioRestException) as info:
            client.notifications(ref).fetch()
        assert (info.value.status, info.value.code) == (404, 20404)
    with pytest.raises(TwilioRestException) as info:  # my notification under another call's path
        client.calls(TWILIO.render_call(put_call(server, account).id)).notifications(no_sid(my_note)).fetch()
    assert (info.value.status, info.value.code) == (404, 20404)
    assert [n.sid for n in client.notifications.list()] == [no_sid(my_note)]  # not theirs
    path = f"{account_path(account)}/Calls/{TWILIO.render_call(theirs.id)}/Events.json"
    r = httpx.get(server.base_url + path, auth=auth(account))
    assert r.json() == {
        "code": 20404,
        "message": f"The requested resource {path} was not found",
        "more_info": "https://www.twilio.com/docs/errors/20404",
        "status": 404,
    }


def test_credentials_methods_and_the_signalwire_face(server, account, other_account):
    call = put_call(server, account)
    base = f"{server.base_url}{account_path(account)}"
    r = httpx.get(f"{base}/Notifications.json")
    assert (r.status_code, r.json()["code"]) == (401, 20003)
    assert r.headers["www-authenticate"] == 'Basic realm="Twilio API"'
    assert (
        httpx.get(
            f"{base}/Calls/{TWILIO.render_call(call.id)}/Events.json", auth=auth(other_account)
        ).status_code
        == 401
    )
    note = put_note(server, account.id, call.id, at=T0)
    r = httpx.delete(f"{base}/Notifications/{no_sid(note)}.json", auth=auth(account))
    assert (r.status_code, r.json()["code"]) == (405, 20004)
    r = httpx.post(f"{base}/Calls/{TWILIO.render_call(call.id)}/Events.json", auth=auth(account))
    assert (r.status_code, r.json()["code"]) == (405, 20004)
    assert httpx.get(f"{base}/Notifications", auth=auth(account)).json()["notifications"][0]["sid"] == no_sid(
        note
    )
    # SignalWire documents neither resource: 404 in its own error body, on both of its paths
    project, sw_auth = str(account.id), (str(account.id), account.signalwire_token)
    for prefix in ("", "/api/laml"):
        for tail in ("Notifications.json", f"Calls/{call.id}/Events.json", f"Notifications/{note.id}.json"):
            r = httpx.get(f"{server.base_url}{prefix}/2010-04-01/Accounts/{project}/{tail}", auth=sw_auth)
            assert r.status_code == 404
            assert r.json()["more_info"].startswith("https://developer.signalwire"), r.json()


def test_openapi_paths_are_the_twilio_routes():
    paths = event_paths(TWILIO, "")
    base = "/2010-04-01/Accounts/{account}"
    assert f"{base}/Calls/{{call}}/Events.json" in paths and f"{base}/Notifications/{{sid}}.json" in paths
    assert set(paths[f"{base}/Notifications.json"]) == {"parameters", "get"}
    query = [p["name"] for p in paths[f"{base}/Notifications.json"]["get"]["parameters"]]
    assert query == ["Log", "MessageDate", "MessageDate<", "MessageDate>", "PageSize", "Page", "PageToken"]
    assert event_paths(SIGNALWIRE, "/api/laml") == {}
    assert event_routes("/api/laml", (SIGNALWIRE,)) == []
