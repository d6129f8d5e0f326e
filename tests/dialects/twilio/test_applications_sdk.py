"""Applications CRUD through the twilio SDK, and calls that name an application."""

from __future__ import annotations

import uuid

import httpx
import pytest
from twilio.base.exceptions import TwilioRestException

from callgate.dialects.twilio.face import TWILIO

pytestmark = pytest.mark.sdk

APP_FIELDS = {
    "account_sid",
    "api_version",
    "date_created",
    "date_updated",
    "friendly_name",
    "message_status_callback",
    "sid",
    "sms_fallback_method",
    "sms_fallback_url",
    "sms_method",
    "sms_status_callback",
    "sms_url",
    "status_callback",
    "status_callback_method",
    "uri",
    "voice_caller_id_lookup",
    "voice_fallback_method",
    "voice_fallback_url",
    "voice_method",
    "voice_url",
    "public_application_connect_enabled",
}


def test_create_fetch_update_delete(twilio, account):
    app = twilio.applications.create(
        friendly_name="IVR",
        voice_url="https://example.com/ivr",
        voice_method="GET",
        voice_fallback_url="https://example.com/ivr-fallback",
        voice_fallback_method="POST",
        status_callback="https://example.com/status",
        status_callback_method="GET",
        voice_caller_id_lookup=True,
        sms_url="https://example.com/sms",
        public_application_connect_enabled=False,
    )
    assert app.sid.startswith("AP") and len(app.sid) == 34
    assert app.account_sid == TWILIO.render_account(account.id)
    assert (app.friendly_name, app.voice_url, app.voice_method) == ("IVR", "https://example.com/ivr", "GET")
    assert app.voice_caller_id_lookup is True
    assert app.api_version == "2010-04-01"
    assert app.date_created is not None

    fetched = twilio.applications(app.sid).fetch()
    assert (fetched.sid, fetched.voice_fallback_url) == (app.sid, "https://example.com/ivr-fallback")

    updated = twilio.applications(app.sid).update(voice_url="https://example.com/ivr2", friendly_name="IVR 2")
    assert (updated.voice_url, updated.friendly_name, updated.voice_method) == (
        "https://example.com/ivr2",
        "IVR 2",
        "GET",
    )
    assert twilio.applications(app.sid).fetch().voice_url == "https://example.com/ivr2"

    assert twilio.applications(app.sid).delete() is True
    with pytest.raises(TwilioRestException) as info:
        twilio.applications(app.sid).fetch()
    assert (info.value.status, info.value.code) == (404, 20404)


def test_json_has_every_field(live, account):
    sid = TWILIO.render_account(account.id)
    r = httpx.post(
        f"{live.base_url}/2010-04-01/Accounts/{sid}/Applications.json",
        data={"FriendlyName": "x"},
        auth=(sid, account.auth_token),
    )
    assert r.status_code == 201
    body = r.json()
    assert set(body) == APP_FIELDS
    assert body["uri"] == f"/2010-04-01/Accounts/{sid}/Applications/{body['sid']}.json"
    assert (body["voice_method"], body["voice_url"]) == ("POST", None)


def test_list_filter_and_pages(twilio):
    sids = [twilio.applications.create(friendly_name=f"app-{n % 2}").sid for n in range(5)]
    assert [a.sid for a in twilio.applications.list(page_size=2)] == list(reversed(sids))
    assert [a.sid for a in twilio.applications.list(friendly_name="app-1")] == [sids[3], sids[1]]


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"voice_url": "not a url"}, 21402),
        ({"voice_method": "PUT"}, 21403),
        ({"status_callback": "ftp://x"}, 21402),
        ({"friendly_name": "x" * 65}, 20002),
        ({"voice_caller_id_lookup": "perhaps"}, 20001),
    ],
)
def test_bad_input(twilio, kwargs, code):
    with pytest.raises(TwilioRestException) as info:
        twilio.applications.create(**kwargs)
    assert (info.value.status, info.value.code) == (400, code)
    assert twilio.applications.list() == []


def test_bad_update_keeps_the_application(twilio):
    app = twilio.applications.create(friendly_name="keep", voice_url="https://example.com/a")
    with pytest.raises(TwilioRestException):
        twilio.applications(app.sid).update(voice_url="nope")
    assert twilio.applications(app.sid).fetch().voice_url == "https://example.com/a"


def test_call_with_application_sid(live, account, twilio):
    app = twilio.applications.create(friendly_name="caller", voice_url="https://example.com/app-voice")
    call = twilio.calls.create(to="+14155550100", from_="+14155550199", application_sid=app.sid)
    assert call.status == "queued"
    stored = live.run(live.services.calls.get(account.id, uuid.UUID(hex=call.sid[2:])))
    assert stored.options.application_id == uuid.UUID(hex=app.sid[2:])


def test_call_with_an_application_without_voice_url(twilio):
    app = twilio.applications.create(friendly_name="sms only", sms_url="https://example.com/sms")
    with pytest.raises(TwilioRestException) as info:
        twilio.calls.create(to="+14155550100", from_="+14155550199", application_sid=app.sid)
    assert (info.value.status, info.value.code) == (400, 21205)


def test_another_accounts_application_is_invisible(live, twilio, other_account):
    from tests.conftest import twilio_client

    app = twilio.applications.create(friendly_name="mine", voice_url="https://example.com/v")
    other = twilio_client(live, other_account)
    with pytest.raises(TwilioRestException) as info:
        other.applications(app.sid).fetch()
    assert info.value.status == 404
    with pytest.raises(TwilioRestException) as info:
        other.calls.create(to="+14155550100", from_="+14155550199", application_sid=app.sid)
    assert info.value.code == 21218


def test_a_blank_url_clears_it(twilio):
    app = twilio.applications.create(
        friendly_name="clear", voice_url="https://example.com/a", status_callback="https://example.com/s"
    )
    cleared = twilio.applications(app.sid).update(status_callback="")
    assert cleared.status_callback is None and cleared.voice_url == "https://example.com/a"
    assert twilio.applications(app.sid).fetch().status_callback is None


@pytest.mark.parametrize(
    ("field", "code"), [("SmsMethod", 21403), ("VoiceUrl", None), ("FriendlyName", None)]
)
def test_blank_values(live, account, field, code):
    """A blank method is a bad one (21403); a blank URL clears it; blank text is as if not given."""
    sid = TWILIO.render_account(account.id)
    r = httpx.post(
        f"{live.base_url}/2010-04-01/Accounts/{sid}/Applications.json",
        data={field: ""},
        auth=(sid, account.auth_token),
    )
    if code is None:
        assert r.status_code == 201
    else:
        assert (r.status_code, r.json()["code"], r.json()["message"]) == (
            400,
            code,
            f"{field} must not be empty",
        )


def test_an_update_without_parameters_answers_the_application_unchanged(live, account, twilio):
    app = twilio.applications.create(friendly_name="same", voice_url="https://example.com/a")
    sid = TWILIO.render_account(account.id)
    r = httpx.post(
        f"{live.base_url}/2010-04-01/Accounts/{sid}/Applications/{app.sid}.json",
        auth=(sid, account.auth_token),
    )
    assert r.status_code == 200
    assert (r.json()["friendly_name"], r.json()["voice_url"]) == ("same", "https://example.com/a")
