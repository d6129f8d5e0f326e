"""The Recordings resources through the twilio SDK (and httpx for the audio and the SignalWire face).

Recordings are put in place through the store (a row and its WAV file), as the engine leaves them.
The server is Callgate's app with `recording_routes` mounted, exactly as `create_app` will mount
them: the faces' usual prefixes, and `/authed` for the routes that ask credentials for the audio too.
"""

from __future__ import annotations

import io
import uuid
import wave
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import httpx
import numpy as np
import pytest
import soundfile
from twilio.base.exceptions import TwilioRestException

from callgate.dialects.twilio.face import TWILIO
from callgate.dialects.twilio.recordings_api import recording_routes
from callgate.store.base import Recording
from callgate.telephony.media.tones import tone
from tests.audio_checks import best_alignment
from tests.conftest import LiveServer, twilio_client

pytestmark = pytest.mark.sdk

T0 = datetime(2026, 3, 2, 9, 30, 0, tzinfo=UTC)
TONE = tone((440.0,), 0.5)


@pytest.fixture(scope="module")
def server(db_url):
    # The app serves the Recordings routes itself; this server adds media that needs credentials.
    live = LiveServer(db_url)
    live.app.router.routes[0:0] = recording_routes("/authed", (TWILIO,), media_auth=True)
    live.start()
    try:
        yield live
    finally:
        live.stop()


@pytest.fixture
def account(server):
    return server.run(server.services.accounts.create(f"rec-{uuid.uuid4().hex[:8]}"))


@pytest.fixture
def other_account(server):
    return server.run(server.services.accounts.create("rec-other"))


@pytest.fixture
def client(server, account):
    return twilio_client(server, account)


def put_recording(server, account, folder: Path, *, n=0, call_id=None, dual=False, **kw) -> Recording:
    """A completed recording of TONE (on the first channel; silence on the second if dual)."""
    rec_id = uuid.uuid4()
    path = folder / f"{rec_id}.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(2 if dual else 1)
        w.setsampwidth(2)
        w.setframerate(8000)
        data = np.stack([TONE, np.zeros_like(TONE)], axis=1) if dual else TONE
        w.writeframes(data.astype("<i2").tobytes())
    at = T0 + timedelta(days=n)
    rec = Recording(
        id=rec_id, account_id=account.id, call_id=call_id or uuid.uuid4(), created_at=at,
        updated_at=at + timedelta(seconds=2), source="OutboundAPI", status=kw.pop("status", "completed"),
        channels=2 if dual else 1, track="both", start_time=at, duration_s=1, path=str(path), **kw,
    )  # fmt: skip
    return server.run(server.services.store.insert_recording(rec))


def sid(rec: Recording) -> str:
    return "RE" + rec.id.hex


def account_path(account) -> str:
    return f"/2010-04-01/Accounts/{TWILIO.render_account(account.id)}"


def test_fetch_through_the_account_and_the_call(server, account, client, tmp_path):
    rec = put_recording(server, account, tmp_path)
    got = client.recordings(sid(rec)).fetch()
    call_sid = TWILIO.render_call(rec.call_id)
    base = f"{account_path(account)}/Recordings/{sid(rec)}"
    assert (got.sid, got.account_sid, got.call_sid) == (sid(rec), TWILIO.render_account(account.id), call_sid)
    assert (got.status, got.source, got.channels, got.duration) == ("completed", "OutboundAPI", 1, "1")
    assert (got.conference_sid, got.price, got.price_unit, got.error_code) == (None, None, "USD", None)
    assert got.date_created == T0 and got.date_updated == T0 + timedelta(seconds=2) and got.start_time == T0
    assert got.api_version == "2010-04-01" and got.encryption_details is None
    assert got.uri == base + ".json" and got.media_url == server.base_url + base
    assert got.subresource_uris == {
        "add_on_results": base + "/AddOnResults.json",
        "transcriptions": base + "/Transcriptions.json",
    }
    of_call = client.calls(call_sid).recordings(sid(rec)).fetch()
    assert (of_call.sid, of_call.track, of_call.duration) == (sid(rec), "both", "1")
    assert of_call.uri == f"{account_path(account)}/Calls/{call_sid}/Recordings/{sid(rec)}.json"


def test_lists_filter_by_call_and_day_and_page(server, account, client, tmp_path):
    call = uuid.uuid4()
    recs = [put_recording(server, account, tmp_path, n=n, call_id=call if n != 1 else None) for n in range(3)]
    newest_first = [sid(r) for r in reversed(recs)]
    assert [r.sid for r in client.recordings.list()] == newest_first
    assert [r.sid for r in client.recordings.list(page_size=2)] == newest_first  # the SDK follows the pages
    page = client.recordings.page(page_size=2)
    assert page.next_page_url is not None and len(list(page)) == 2
    call_sid = TWILIO.render_call(call)
    assert [r.sid for r in client.recordings.list(call_sid=call_sid)] == [sid(recs[2]), sid(recs[0])]
    assert [r.sid for r in client.calls(call_sid).recordings.list()] == [sid(recs[2]), sid(recs[0])]
    assert [r.track for r in client.calls(call_sid).recordings.list()] == ["both", "both"]
    assert [r.sid for r in client.recordings.list(date_created=date(2026, 3, 3))] == [sid(recs[1])]
    # the SDK sends a date as its midnight: created on or before 2026-03-03T00:00:00Z
    assert [r.sid for r in client.recordings.list(date_created_before=date(2026, 3, 3))] == [sid(recs[0])]
    after = client.recordings.list(date_created_after=T0 + timedelta(days=1))
    assert [r.sid for r in after] == newest_first[:2]
    assert client.recordings.list(call_sid="CA" + "0" * 32) == []
    assert client.recordings.list(conference_sid="CF" + "0" * 32) == []


def test_audio_as_wav_by_default_and_as_mp3(server, account, tmp_path):
    rec = put_recording(server, account, tmp_path)
    url = f"{server.base_url}{account_path(account)}/Recordings/{sid(rec)}"
    plain, as_wav, as_mp3 = httpx.get(url), httpx.get(url + ".wav"), httpx.get(url + ".mp3")  # no credentials
    assert plain.status_code == as_wav.status_code == as_mp3.status_code == 200
    assert plain.headers["content-type"] == as_wav.headers["content-type"] == "audio/x-wav"
    assert plain.content == as_wav.content == Path(rec.path).read_bytes()
    assert as_mp3.headers["content-type"] == "audio/mpeg"
    decoded, rate = soundfile.read(io.BytesIO(as_mp3.content), dtype="int16")
    assert rate == 8000 and best_alignment(decoded, TONE[:2000]) > 0.9


def test_a_dual_channel_recording_downloads_as_recorded_or_mixed_down(server, account, tmp_path):
    rec = put_recording(server, account, tmp_path, dual=True)
    url = f"{server.base_url}{account_path(account)}/Recordings/{sid(rec)}.wav"
    with wave.open(io.BytesIO(httpx.get(url).content)) as w:
        assert w.getnchannels() == 2
    with wave.open(io.BytesIO(httpx.get(url, params={"RequestedChannels": "1"}).content)) as w:
        assert w.getnchannels() == 1
        mixed = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
    assert np.abs(mixed.astype(np.int32) - TONE // 2).max() <= 1  # the two channels averaged
    bad = httpx.get(url, params={"RequestedChannels": "3"})
    assert (bad.status_code, bad.json()["code"]) == (400, 20001)


def test_unknown_and_other_accounts_recordings_are_404(server, account, other_account, client, tmp_path):
    mine = put_recording(server, account, tmp_path)
    theirs = put_recording(server, other_account, tmp_path)
    for ref in (sid(theirs), "RE" + "0" * 32, "REnot-a-sid", str(mine.id)):
        with pytest.raises(TwilioRestException) as info:
            client.recordings(ref).fetch()
        assert (info.value.status, info.value.code) == (404, 20404)
    with pytest.raises(TwilioRestException) as info:  # a recording under another call's path
        client.calls("CA" + "1" * 32).recordings(sid(mine)).fetch()
    assert (info.value.status, info.value.code) == (404, 20404)
    for path in (
        f"{account_path(account)}/Recordings/{sid(theirs)}.mp3",
        f"{account_path(other_account)}/Recordings/{sid(mine)}",
    ):
        r = httpx.get(server.base_url + path)
        assert r.status_code == 404
        assert r.json() == {
            "code": 20404,
            "message": f"The requested resource {path} was not found",
            "more_info": "https://www.twilio.com/docs/errors/20404",
            "status": 404,
        }
    in_progress = put_recording(server, account, tmp_path, status="in-progress")
    assert (
        httpx.get(f"{server.base_url}{account_path(account)}/Recordings/{sid(in_progress)}.wav").status_code
        == 404
    )


def test_metadata_needs_credentials_and_audio_can_be_made_to(server, account, other_account, tmp_path):
    rec = put_recording(server, account, tmp_path)
    path = f"{account_path(account)}/Recordings/{sid(rec)}"
    r = httpx.get(server.base_url + path + ".json")
    assert (r.status_code, r.json()["code"]) == (401, 20003)
    other = (TWILIO.render_account(other_account.id), other_account.auth_token)
    assert httpx.get(server.base_url + path + ".json", auth=other).status_code == 401
    authed = server.base_url + "/authed" + path + ".wav"
    r = httpx.get(authed)
    assert (r.status_code, r.json()["code"]) == (401, 20003)
    assert r.headers["www-authenticate"] == 'Basic realm="Twilio API"'
    r = httpx.get(authed, auth=(TWILIO.render_account(account.id), account.auth_token))
    assert r.status_code == 200 and r.content == Path(rec.path).read_bytes()


def test_delete_removes_the_row_and_the_files(server, account, client, tmp_path):
    rec = put_recording(server, account, tmp_path)
    url = f"{server.base_url}{account_path(account)}/Recordings/{sid(rec)}"
    assert httpx.get(url + ".mp3").status_code == 200  # an MP3 now sits beside the WAV
    assert sorted(p.suffix for p in tmp_path.iterdir()) == [".mp3", ".wav"]
    assert client.recordings(sid(rec)).delete() is True
    assert list(tmp_path.iterdir()) == []
    assert httpx.get(url).status_code == 404
    with pytest.raises(TwilioRestException) as info:
        client.recordings(sid(rec)).delete()
    assert (info.value.status, info.value.code) == (404, 20404)
    of_call = put_recording(server, account, tmp_path)
    call_sid = TWILIO.render_call(of_call.call_id)
    with pytest.raises(TwilioRestException):  # not this call's recording
        client.calls("CA" + "2" * 32).recordings(sid(of_call)).delete()
    assert client.calls(call_sid).recordings(sid(of_call)).delete() is True
    assert list(tmp_path.iterdir()) == []


def test_other_methods_are_refused_in_the_vendor_shape(server, account, client, tmp_path):
    rec = put_recording(server, account, tmp_path)
    auth = (TWILIO.render_account(account.id), account.auth_token)
    r = httpx.post(f"{server.base_url}{account_path(account)}/Recordings/{sid(rec)}.json", auth=auth)
    assert (r.status_code, r.json()["code"]) == (405, 20004)


def test_signalwire_face(server, account, tmp_path):
    rec = put_recording(server, account, tmp_path)
    project, auth = str(account.id), (str(account.id), account.signalwire_token)
    laml = f"/api/laml/2010-04-01/Accounts/{project}"
    r = httpx.get(f"{server.base_url}{laml}/Recordings/{rec.id}.json", auth=auth)
    assert r.status_code == 200
    body = r.json()
    assert (body["sid"], body["account_sid"], body["call_sid"]) == (str(rec.id), project, str(rec.call_id))
    assert (body["duration"], body["channels"], body["channel"], body["status"]) == (1, 1, 1, "completed")
    assert body["uri"] == f"{laml}/Recordings/{rec.id}.json"
    assert body["start_time"] == "Mon, 02 Mar 2026 09:30:00 +0000"
    assert body["end_time"] == "Mon, 02 Mar 2026 09:30:01 +0000"
    # the SDK's path (no /api/laml): page URIs without the prefix, resource URIs with it
    listed = httpx.get(f"{server.base_url}/2010-04-01/Accounts/{project}/Recordings.json", auth=auth).json()
    assert [x["sid"] for x in listed["recordings"]] == [str(rec.id)]
    assert listed["first_page_uri"].startswith(f"/2010-04-01/Accounts/{project}/Recordings.json?")
    of_call = httpx.get(f"{server.base_url}{laml}/Calls/{rec.call_id}/Recordings.json", auth=auth).json()
    assert of_call["recordings"][0]["uri"] == f"{laml}/Calls/{rec.call_id}/Recordings/{rec.id}.json"
    mp3 = httpx.get(f"{server.base_url}{laml}/Recordings/{rec.id}.mp3")  # public, as SignalWire's are
    assert mp3.status_code == 200 and mp3.headers["content-type"] == "audio/mpeg"
    missing = httpx.get(f"{server.base_url}{laml}/Recordings/{uuid.uuid4()}.json", auth=auth)
    assert missing.status_code == 404 and missing.json()["more_info"].startswith(
        "https://developer.signalwire"
    )
    assert httpx.delete(f"{server.base_url}{laml}/Recordings/{rec.id}.json", auth=auth).status_code == 204
    assert list(tmp_path.iterdir()) == []
