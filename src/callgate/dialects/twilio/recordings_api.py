"""The 2010-04-01 Recordings routes, for every `Flavor` (Twilio, SignalWire).

Metadata (`.json`) needs HTTP Basic like the rest of the API. The audio (`{Sid}` with no extension
or `.wav`: WAV; `.mp3`: MP3) is served without credentials by default, as both vendors do: Twilio
unless the account enforces HTTP auth on media URLs (Voice settings), SignalWire always ("public and
do not require Basic Auth"). `recording_routes(..., media_auth=True)` asks for credentials there too.
A recording is found only under its own account, so another account's sid answers 404.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from callgate.dialects.params import Kind, Param, parse_form
from callgate.dialects.responses import JSONResponse
from callgate.dialects.twilio.api import _not_found, _page_response, _raise_all
from callgate.dialects.twilio.commands import _day_bounds
from callgate.dialects.twilio.flavor import Flavor, prefixed_sid, uuid_sid
from callgate.dialects.twilio.http import (
    Dispatcher,
    Handler,
    PageRequest,
    ResourceRoute,
    query_form,
    read_form,
    services,
)
from callgate.dialects.twilio.render import account_path, rfc2822
from callgate.dialects.twilio.schemas import BAD_URL, PAGING, _instant, _method, _url
from callgate.dialects.twilio.webhook import recording_sid
from callgate.engine.recordings import CONTENT_TYPES, MediaFormat, RecordingService
from callgate.store.base import Recording, RecordingFilter

log = logging.getLogger(__name__)


# Recording sids: `RE` + 32 hex digits on Twilio, the UUID on SignalWire (as the webhooks render them).
_PARSE_RECORDING: dict[str, Callable[[str], UUID | None]] = {
    "twilio": prefixed_sid("RE")[1],
    "signalwire": uuid_sid()[1],
}
_RENDER_CONFERENCE: dict[str, Callable[[UUID], str]] = {"twilio": prefixed_sid("CF")[0], "signalwire": str}

LIST_RECORDINGS = (
    _instant("DateCreated", description="YYYY-MM-DD: recordings created on this UTC day."),
    _instant("DateCreated<", "date_created_before", "Created on or before."),
    _instant("DateCreated>", "date_created_after", "Created on or after."),
    Param("CallSid", attr="call_sid", code=20001, description="Only the recordings of this call."),
    Param("ConferenceSid", attr="conference_sid", code=20001),
    Param("IncludeSoftDeleted", Kind.BOOL, code=20001, default=False),
    *PAGING,
)
#: Twilio's RequestedChannels on a media download: 1 mixes a dual-channel recording down to mono.
MEDIA_QUERY = (Param("RequestedChannels", Kind.INT, code=20001, minimum=1, maximum=2),)

#: Twilio's alias for the recording of a call that is going now (in-progress or paused)
CURRENT = "Twilio.CURRENT"
#: CreateCallRecording: start recording a call in progress
START_RECORDING = (
    Param(
        "RecordingStatusCallbackEvent",
        Kind.ENUM,
        attr="events",
        code=20001,
        choices=("in-progress", "completed", "absent"),
        many=True,
        split_spaces=True,
    ),
    _url("RecordingStatusCallback", attr="callback", code=BAD_URL),
    _method("RecordingStatusCallbackMethod", attr="callback_method"),
    Param("Trim", Kind.ENUM, code=20001, choices=("trim-silence", "do-not-trim"), default="do-not-trim"),
    Param(
        "RecordingChannels", Kind.ENUM, attr="channels", code=20001, choices=("mono", "dual"), default="mono"
    ),  # fmt: skip
    Param(
        "RecordingTrack",
        Kind.ENUM,
        attr="track",
        code=20001,
        choices=("inbound", "outbound", "both"),
        default="both",
    ),  # fmt: skip
)
#: UpdateCallRecording: pause, resume or stop it
CONTROL_RECORDING = (
    Param(
        "Status",
        Kind.ENUM,
        code=20001,
        required_code=20001,
        choices=("in-progress", "paused", "stopped"),
        description="paused, in-progress (resume) or stopped.",
    ),
    Param("PauseBehavior", Kind.ENUM, code=20001, choices=("skip", "silence"), default="silence"),
)


def parse_recording(flavor: Flavor, value: str) -> UUID | None:
    return _PARSE_RECORDING[flavor.name](value)


def recording_service(request: Request) -> RecordingService:
    """The app's RecordingService if it wired one (`app.state.recordings`), else one over its store."""
    wired = getattr(request.app.state, "recordings", None)
    return wired if isinstance(wired, RecordingService) else RecordingService(services(request).store)


def _base_url(request: Request) -> str:
    settings = getattr(request.app.state, "settings", None)
    return settings.base_url if settings is not None else str(request.base_url).rstrip("/")


# JSON


def twilio_recording(rec: Recording, flavor: Flavor, *, base_url: str, via_call: bool) -> dict[str, Any]:
    """Twilio's Recording: the account resource, or (`via_call`) the call's Recordings subresource,
    whose schema adds `track` and has no `subresource_uris` or `media_url`."""
    sid = recording_sid(flavor, rec.id)
    root = account_path(flavor, rec.account_id)
    call_sid = None if rec.call_id is None else flavor.render_call(rec.call_id)
    body: dict[str, Any] = {
        "account_sid": flavor.render_account(rec.account_id),
        "api_version": rec.api_version,
        "call_sid": call_sid,
        "conference_sid": _conference_sid(rec, flavor),
        "channels": rec.channels,
        "date_created": rfc2822(rec.created_at),
        "date_updated": rfc2822(rec.updated_at),
        "start_time": rfc2822(rec.start_time),
        "price": rec.price,
        "price_unit": rec.price_unit,
        "duration": None if rec.duration_s is None else str(rec.duration_s),
        "sid": sid,
        "source": rec.source,
        "status": rec.status,
        "error_code": rec.error_code,
        "encryption_details": None,
    }
    if via_call and call_sid is not None:
        body["track"] = rec.track
        body["uri"] = f"{root}/Calls/{call_sid}/Recordings/{sid}.json"
        return body
    body["uri"] = f"{root}/Recordings/{sid}.json"
    body["subresource_uris"] = {
        "add_on_results": f"{root}/Recordings/{sid}/AddOnResults.json",
        "transcriptions": f"{root}/Recordings/{sid}/Transcriptions.json",
    }
    body["media_url"] = f"{base_url}{root}/Recordings/{sid}"
    return body


def signalwire_recording(rec: Recording, flavor: Flavor, *, base_url: str, via_call: bool) -> dict[str, Any]:
    """SignalWire's Recording (its Compatibility API reference): UUID sids, `/api/laml` uris,
    `duration` a number, `channel` beside `channels`, and `end_time`."""
    sid = recording_sid(flavor, rec.id)
    root = account_path(flavor, rec.account_id)
    call_sid = None if rec.call_id is None else flavor.render_call(rec.call_id)
    end = None
    if rec.start_time is not None and rec.duration_s is not None:
        end = rec.start_time + timedelta(seconds=rec.duration_s)
    in_call = via_call and call_sid is not None
    return {
        "sid": sid,
        "account_sid": flavor.render_account(rec.account_id),
        "api_version": rec.api_version,
        "call_sid": call_sid,
        "conference_sid": _conference_sid(rec, flavor),
        "channel": rec.channels,
        "channels": rec.channels,
        "date_created": rfc2822(rec.created_at),
        "date_updated": rfc2822(rec.updated_at),
        "start_time": rfc2822(rec.start_time),
        "end_time": rfc2822(end),
        "duration": rec.duration_s or 0,
        "price": rec.price,
        "price_unit": rec.price_unit,
        "source": rec.source,
        "status": rec.status,
        "error_code": rec.error_code,
        "uri": f"{root}/Calls/{call_sid}/Recordings/{sid}.json"
        if in_call
        else f"{root}/Recordings/{sid}.json",
        "subresource_uris": {"transcriptions": f"{root}/Recordings/{sid}/Transcriptions.json"},
    }


def recording_json(rec: Recording, flavor: Flavor, *, base_url: str, via_call: bool) -> dict[str, Any]:
    render = signalwire_recording if flavor.name == "signalwire" else twilio_recording
    return render(rec, flavor, base_url=base_url, via_call=via_call)


def _conference_sid(rec: Recording, flavor: Flavor) -> str | None:
    return None if rec.conference_id is None else _RENDER_CONFERENCE[flavor.name](rec.conference_id)


# Handlers


def _call_id(request: Request, flavor: Flavor) -> UUID:
    call_id = flavor.parse_call(request.path_params["call"])
    if call_id is None:
        raise _not_found(request)
    return call_id


async def _find(request: Request, flavor: Flavor, account_id: UUID, call_id: UUID | None) -> Recording:
    """The recording the path names, of this account (and of this call, under a call's path)."""
    recording_id = parse_recording(flavor, request.path_params["sid"])
    rec = None if recording_id is None else await recording_service(request).get(account_id, recording_id)
    if rec is None or (call_id is not None and rec.call_id != call_id):
        raise _not_found(request)
    return rec


async def _list(request: Request, flavor: Flavor, account_id: UUID, call_id: UUID | None) -> Response:
    parsed = parse_form(query_form(request), LIST_RECORDINGS)
    page = PageRequest.from_parsed(parsed)
    values = parsed.values
    after, before = _day_bounds(
        values, "date_created", "date_created_before", "date_created_after", "DateCreated"
    )
    # A CallSid that names no call (or another call than the path's) and any ConferenceSid (no
    # conference recordings yet) match nothing.
    matches = values.get("conference_sid") is None
    if "call_sid" in values:
        wanted = flavor.parse_call(values["call_sid"])
        matches = matches and wanted is not None and call_id in (None, wanted)
        call_id = wanted
    rows: list[Recording] = []
    if matches:
        flt = RecordingFilter(created_after=after, created_before=before)
        rows = await recording_service(request).search(account_id, call_id, flt, page.window)
    base, via_call = _base_url(request), "call" in request.path_params

    def render(rec: Recording) -> dict[str, Any]:
        return recording_json(rec, flavor, base_url=base, via_call=via_call)

    return _page_response(request, page, "recordings", rows, render)


async def list_recordings(request: Request, flavor: Flavor, account_id: UUID) -> Response:
    return await _list(request, flavor, account_id, None)


async def list_call_recordings(request: Request, flavor: Flavor, account_id: UUID) -> Response:
    return await _list(request, flavor, account_id, _call_id(request, flavor))


async def fetch_recording(request: Request, flavor: Flavor, account_id: UUID) -> Response:
    rec = await _find(request, flavor, account_id, None)
    return JSONResponse(recording_json(rec, flavor, base_url=_base_url(request), via_call=False))


async def fetch_call_recording(request: Request, flavor: Flavor, account_id: UUID) -> Response:
    rec = await _find(request, flavor, account_id, _call_id(request, flavor))
    return JSONResponse(recording_json(rec, flavor, base_url=_base_url(request), via_call=True))


def _recordings_dir(request: Request) -> Path:
    settings = getattr(request.app.state, "settings", None)
    return Path(settings.recordings if settings is not None else "./recordings")


async def start_call_recording(request: Request, flavor: Flavor, account_id: UUID) -> Response:
    """Start recording a call in progress (Twilio's CreateCallRecording): 201 with the recording,
    `in-progress`; the worker running the call starts writing it at once."""
    parsed = parse_form(await read_form(request), START_RECORDING)
    _raise_all(parsed)
    values = {p.target: p.default for p in START_RECORDING if p.default is not None} | parsed.values
    recording = await recording_service(request).start_on_call(
        services(request).calls,
        account_id,
        _call_id(request, flavor),
        folder=_recordings_dir(request),
        channels=values["channels"],
        track=values["track"],
        trim=values["trim"],
        status_callback=values.get("callback"),
        status_callback_method=values["callback_method"],
        status_callback_events=tuple(values.get("events") or ("completed",)),
    )
    if recording is None:
        raise _not_found(request)
    body = recording_json(recording, flavor, base_url=_base_url(request), via_call=True)
    return JSONResponse(body, status_code=201)


async def control_call_recording(request: Request, flavor: Flavor, account_id: UUID) -> Response:
    """Pause, resume or stop a call's recording (Twilio's UpdateCallRecording); `Twilio.CURRENT`
    names the one going now. The worker running the call follows at once."""
    parsed = parse_form(await read_form(request), CONTROL_RECORDING)
    _raise_all(parsed)
    call_id = _call_id(request, flavor)
    sid = request.path_params["sid"]
    recording_id = None if sid == CURRENT else parse_recording(flavor, sid)
    if recording_id is None and sid != CURRENT:
        raise _not_found(request)
    changed = await recording_service(request).control_on_call(
        services(request).calls,
        account_id,
        call_id,
        recording_id,
        parsed.values["status"],
        parsed.values.get("pause_behavior", "silence"),
    )
    if changed is None:
        raise _not_found(request)
    return JSONResponse(recording_json(changed, flavor, base_url=_base_url(request), via_call=True))


async def delete_recording(request: Request, flavor: Flavor, account_id: UUID) -> Response:
    call_id = _call_id(request, flavor) if "call" in request.path_params else None
    rec = await _find(request, flavor, account_id, call_id)
    if not await recording_service(request).delete(account_id, rec.id):
        raise _not_found(request)
    return Response(status_code=204)


def _media(fmt: MediaFormat) -> Handler:
    async def media(request: Request, flavor: Flavor, account_id: UUID) -> Response:
        parsed = parse_form(query_form(request), MEDIA_QUERY)
        parsed.raise_first()
        rec = await _find(request, flavor, account_id, None)
        mono = parsed.values.get("requested_channels") == 1
        data = await recording_service(request).media(rec, fmt, mono=mono)
        if data is None:  # still recording, absent, or its file is gone
            raise _not_found(request)
        return Response(data, media_type=CONTENT_TYPES[fmt])

    return media


# Routes


def recording_routes(
    prefix: str, flavors: tuple[Flavor, ...], *, media_auth: bool = False
) -> list[BaseRoute]:
    """The Recordings routes under `prefix`, for `flavors` (as `CompatApi(prefix, flavors)`)."""
    base = f"{prefix}/2010-04-01/Accounts/{{account}}"
    media_public = not media_auth
    fetch_or_delete: dict[str, Handler] = {"GET": fetch_recording, "DELETE": delete_recording}
    call_recording: dict[str, Handler] = {
        "GET": fetch_call_recording,
        "POST": control_call_recording,
        "DELETE": delete_recording,
    }
    call_recordings: dict[str, Handler] = {"GET": list_call_recordings, "POST": start_call_recording}
    # Most specific first: `{sid}` alone would swallow `.json`, `.wav` and `.mp3`.
    table: list[tuple[str, dict[str, Handler], bool]] = [
        ("/Recordings.json", {"GET": list_recordings}, False),
        ("/Recordings", {"GET": list_recordings}, False),
        ("/Recordings/{sid}.json", fetch_or_delete, False),
        ("/Recordings/{sid}.wav", {"GET": _media("wav")}, media_public),
        ("/Recordings/{sid}.mp3", {"GET": _media("mp3")}, media_public),
        ("/Recordings/{sid}", {"GET": _media("wav")}, media_public),
        ("/Calls/{call}/Recordings.json", call_recordings, False),
        ("/Calls/{call}/Recordings", call_recordings, False),
        ("/Calls/{call}/Recordings/{sid}.json", call_recording, False),
        ("/Calls/{call}/Recordings/{sid}", call_recording, False),
    ]
    return [
        ResourceRoute(base + path, Dispatcher(flavors, handlers, public=public))
        for path, handlers, public in table
    ]


__all__ = [
    "LIST_RECORDINGS",
    "recording_json",
    "recording_routes",
    "recording_service",
    "signalwire_recording",
    "twilio_recording",
]
