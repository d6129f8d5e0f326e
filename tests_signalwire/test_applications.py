"""The Applications resource through the SignalWire SDK, and calls placed with an ApplicationSid.

signalwire 2.1.1 replaces twilio's ApplicationInstance.__init__ with one that reads every key with
payload[...]: a missing key in the server's JSON surfaces here as a KeyError.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from support import FROM, TO, VOICE_URL, Account, call_params
from twilio.base.exceptions import TwilioRestException

# The keys signalwire 2.1.1's ApplicationInstance reads strictly, and the optional one.
STRICT_APPLICATION_KEYS = {
    "account_sid",
    "api_version",
    "date_created",
    "date_updated",
    "friendly_name",
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
}

FULL_APPLICATION = {
    "friendly_name": "front desk",
    "voice_url": "https://example.com/app/voice.xml",
    "voice_method": "GET",
    "voice_fallback_url": "https://example.com/app/fallback.xml",
    "voice_fallback_method": "GET",
    "status_callback": "https://example.com/app/status",
    "status_callback_method": "GET",
    "voice_caller_id_lookup": True,
    "sms_url": "https://example.com/app/sms",
    "sms_method": "GET",
    "sms_fallback_url": "https://example.com/app/sms-fallback",
    "sms_fallback_method": "GET",
    "sms_status_callback": "https://example.com/app/sms-status",
    "message_status_callback": "https://example.com/app/message-status",
}


def _check_application(app: Any, account: Account, expected: dict[str, Any]) -> None:
    assert str(uuid.UUID(app.sid)) == app.sid
    assert app.account_sid == account.project_id
    assert app.api_version == "2010-04-01"
    assert app.uri == f"/api/laml/2010-04-01/Accounts/{account.project_id}/Applications/{app.sid}"
    assert isinstance(app.date_created, datetime)  # RFC 2822, parsed by the SDK
    assert abs(datetime.now(UTC) - app.date_created) < timedelta(minutes=5)
    assert isinstance(app.date_updated, datetime)
    for key, value in expected.items():
        assert getattr(app, key) == value, key


def test_create_fetch_update_delete(client: Any, account: Account) -> None:
    app = client.applications.create(**FULL_APPLICATION)
    _check_application(app, account, FULL_APPLICATION)

    fetched = client.applications(app.sid).fetch()
    _check_application(fetched, account, FULL_APPLICATION)
    assert fetched.date_created == app.date_created

    updated = client.applications(app.sid).update(
        friendly_name="back office", voice_url="https://example.com/b.xml", voice_method="POST"
    )
    _check_application(
        updated,
        account,
        {
            **FULL_APPLICATION,
            "friendly_name": "back office",
            "voice_url": "https://example.com/b.xml",
            "voice_method": "POST",
        },
    )
    assert client.applications(app.sid).fetch().friendly_name == "back office"

    assert client.applications(app.sid).delete() is True
    with pytest.raises(TwilioRestException) as info:
        client.applications(app.sid).fetch()
    assert info.value.status == 404
    assert info.value.code == 20404
    with pytest.raises(TwilioRestException) as info:
        client.applications(app.sid).delete()
    assert info.value.status == 404


def test_application_json_has_every_key_the_sdk_reads(account: Account) -> None:
    response = account.laml.post("/Applications.json", {"FriendlyName": "minimal"})
    assert response.status_code in (200, 201), response.text
    body = response.json()
    assert STRICT_APPLICATION_KEYS <= set(body)
    assert "subresource_uris" not in body
    assert body["friendly_name"] == "minimal"
    assert body["voice_method"] == "POST"
    assert body["voice_caller_id_lookup"] is False


def test_a_minimal_application_parses_in_the_sdk(client: Any, account: Account) -> None:
    app = client.applications.create(friendly_name="bare")
    _check_application(app, account, {"friendly_name": "bare", "voice_method": "POST"})
    assert not app.voice_url


def test_list_and_filter_by_friendly_name(fresh_account: Account) -> None:
    client = fresh_account.client()
    sids = {client.applications.create(friendly_name=n, voice_url=VOICE_URL).sid for n in ("a", "b", "c")}
    listed = client.applications.list()
    assert {a.sid for a in listed} == sids
    assert {a.friendly_name for a in listed} == {"a", "b", "c"}
    only_b = client.applications.list(friendly_name="b")
    assert [a.friendly_name for a in only_b] == ["b"]
    assert client.applications.list(friendly_name="nobody") == []
    # Paging, two at a time, through the SDK.
    paged = client.applications.list(page_size=2)
    assert [a.sid for a in paged] == [a.sid for a in listed]


def test_another_accounts_application_is_not_found(client: Any, other_account: Account) -> None:
    app = other_account.client().applications.create(friendly_name="theirs", voice_url=VOICE_URL)
    with pytest.raises(TwilioRestException) as info:
        client.applications(app.sid).fetch()
    assert info.value.status == 404
    assert info.value.code == 20404
    assert app.sid not in {a.sid for a in client.applications.list()}


def test_bad_application_parameters_are_listed(account: Account) -> None:
    form = {"FriendlyName": "x", "VoiceUrl": "nope", "VoiceMethod": "PUT"}
    response = account.laml.post("/Applications.json", form)
    assert response.status_code == 400
    assert sorted(e["code"] for e in response.json()["errors"]) == ["21402", "21403"]


# Calls placed with an application


def test_call_with_application_sid(client: Any, account: Account) -> None:
    app = client.applications.create(friendly_name="dialer", voice_url=VOICE_URL)
    call = client.calls.create(to=TO, from_=FROM, application_sid=app.sid)
    assert call.status == "queued"
    assert call.account_sid == account.project_id
    assert client.calls(call.sid).fetch().sid == call.sid


def test_call_with_unknown_application_sid_is_refused(client: Any, account: Account) -> None:
    with pytest.raises(TwilioRestException) as info:
        client.calls.create(to=TO, from_=FROM, application_sid=str(uuid.uuid4()))
    assert info.value.status == 422
    assert info.value.code == 21218
    response = account.laml.post("/Calls.json", call_params(Url=None, ApplicationSid=str(uuid.uuid4())))
    assert response.status_code == 422
    body = response.json()
    assert set(body) == {"code", "message", "more_info", "status"}
    assert body["code"] == 21218 and body["status"] == 422
    assert body["message"]


def test_call_with_another_accounts_application_is_refused(client: Any, other_account: Account) -> None:
    app = other_account.client().applications.create(friendly_name="theirs", voice_url=VOICE_URL)
    with pytest.raises(TwilioRestException) as info:
        client.calls.create(to=TO, from_=FROM, application_sid=app.sid)
    assert info.value.status == 422
    assert info.value.code == 21218


def test_call_with_a_malformed_application_sid_is_a_parameter_error(account: Account) -> None:
    response = account.laml.post("/Calls.json", call_params(Url=None, ApplicationSid="AP123"))
    assert response.status_code == 400
    assert [e["code"] for e in response.json()["errors"]] == ["21218"]


def test_call_with_a_deleted_application_is_refused(client: Any) -> None:
    app = client.applications.create(friendly_name="gone", voice_url=VOICE_URL)
    assert client.applications(app.sid).delete() is True
    with pytest.raises(TwilioRestException) as info:
        client.calls.create(to=TO, from_=FROM, application_sid=app.sid)
    assert info.value.status == 422
    assert info.value.code == 21218


def test_call_with_an_application_without_voice_url_is_refused(client: Any, account: Account) -> None:
    app = client.applications.create(friendly_name="silent")
    response = account.laml.post("/Calls.json", call_params(Url=None, ApplicationSid=app.sid))
    assert response.status_code == 400
    assert [e["code"] for e in response.json()["errors"]] == ["21205"]


def test_application_sid_with_url_and_laml_is_accepted(client: Any, account: Account) -> None:
    """The ApplicationSid handles the call; the Url, Laml and status callback given with it are ignored
    (a bad value of theirs too), as the 2010-04-01 family's seed orders them."""
    app = client.applications.create(friendly_name="both", voice_url=VOICE_URL)
    form = call_params(ApplicationSid=app.sid, Laml="<Response><Say>unclosed</Response>",
                       StatusCallback="https://example.com/ignored")  # fmt: skip
    response = account.laml.post("/Calls.json", form)
    assert response.status_code == 200, response.text
    assert client.calls(response.json()["sid"]).fetch().status == "queued"
