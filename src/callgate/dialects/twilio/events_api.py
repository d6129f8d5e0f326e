"""Twilio's Call Events and Notifications resources (2010-04-01), served from what the engine records.

- `Calls/{CallSid}/Events`: every HTTP request Callgate made for the call (document fetches,
  callbacks; each retry and redirect hop on its own), in the order made, as Twilio's Call Event:
  `request` {method, url, parameters} with the parameter names in snake_case, and `response`
  {request_duration (ms), response_code, content_type, response_body, date_created}
  (twilio.com/docs/voice/api/call-event-resource). `response_code` is null when no answer came.
- `Notifications` of the account or of one call (`Calls/{CallSid}/Notifications`), and one by sid
  (`NO` + 32 hex digits), with the list filters Log (0 errors, 1 warnings), MessageDate,
  MessageDate< and MessageDate> (twilio.com/docs/usage/api/notifications-deprecated). As Twilio
  warns, a listed notification leaves out the HTTP exchange; only a fetched one carries
  `request_variables`, `response_headers` and `response_body`, taken from the call's request log (the
  last request to the notification's URL). Twilio no longer deletes notifications (twilio-python 9
  has list and fetch only), so DELETE answers 405 like any other method.

SignalWire's Compatibility API documents neither resource (its call's `subresource_uris` has
`notifications: null`), so under a SignalWire account these paths answer 404 in its error body.
A call or notification is found only under its own account: another account's answers 404 (20404).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit
from uuid import UUID

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from callgate.dialects.params import Kind, Param, openapi_query, parse_form
from callgate.dialects.responses import JSONResponse
from callgate.dialects.twilio.api import _not_found, _page_response
from callgate.dialects.twilio.commands import _day_bounds
from callgate.dialects.twilio.flavor import Flavor, prefixed_sid
from callgate.dialects.twilio.http import (
    Dispatcher,
    Handler,
    PageRequest,
    ResourceRoute,
    query_form,
    services,
)
from callgate.dialects.twilio.render import account_path, rfc2822
from callgate.dialects.twilio.schemas import PAGING, _instant
from callgate.store.base import NotificationRecord, RequestRecord

log = logging.getLogger(__name__)


#: the faces that have these resources (see the module docstring for SignalWire)
SERVED_FLAVORS = frozenset({"twilio"})

render_notification_sid, parse_notification_sid = prefixed_sid("NO")

# Twilio's `log`: 0 is ERROR, 1 is WARNING; `message_text` names them ERROR and WARN.
_LOG = {"error": "0", "warning": "1"}
_LEVEL_OF_LOG = {0: "error", 1: "warning"}
_LOG_LEVEL_TEXT = {"error": "ERROR", "warning": "WARN"}
_API_VERSION = "2010-04-01"

LIST_EVENTS = PAGING
LIST_NOTIFICATIONS = (
    Param("Log", Kind.INT, code=20001, minimum=0, maximum=1, description="0: errors only; 1: warnings only."),
    _instant("MessageDate", description="YYYY-MM-DD: notifications of this UTC day."),
    _instant("MessageDate<", "message_date_before", "On or before this day."),
    _instant("MessageDate>", "message_date_after", "On or after this day."),
    *PAGING,
)


# JSON


_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


def snake_case(name: str) -> str:
    """`CallSid` -> `call_sid`: how the Call Event resource names the request's parameters."""
    return _CAMEL_BOUNDARY.sub("_", name).lower()


def _wire_pairs(request: dict[str, Any]) -> list[tuple[str, str]]:
    """The parameters a logged request carried: its form body (POST) or its query string (GET)."""
    if request.get("params"):
        return [(str(k), str(v)) for k, v in request["params"]]
    body = request.get("body")
    if isinstance(body, str) and body:
        return parse_qsl(body, keep_blank_values=True)
    return parse_qsl(urlsplit(request.get("url") or "").query, keep_blank_values=True)


def _header(headers: dict[str, Any], name: str) -> str | None:
    for key, value in headers.items():
        if key.lower() == name:
            return str(value)
    return None


def event_json(record: RequestRecord) -> dict[str, Any]:
    """Twilio's Call Event: the request as sent and what came back."""
    request, response = record.request, record.response
    return {
        "request": {
            "method": request.get("method"),
            "url": request.get("url"),
            "parameters": {snake_case(k): v for k, v in _wire_pairs(request)},
        },
        "response": {
            "request_duration": record.elapsed_ms,
            "response_code": response.get("status"),
            "content_type": _header(response.get("headers") or {}, "content-type"),
            "response_body": response.get("body"),
            "date_created": rfc2822(record.at),
        },
    }


def _message_text(note: NotificationRecord) -> str:
    # Twilio's message_text is a form-encoded record: LogLevel, Msg, ErrorCode and the URL involved.
    pairs = [("LogLevel", _LOG_LEVEL_TEXT.get(note.level, "ERROR")), ("Msg", note.message)]
    pairs.append(("ErrorCode", str(note.code)))
    if note.request_url:
        pairs.append(("url", note.request_url))
    return urlencode(pairs)


def notification_json(
    note: NotificationRecord,
    flavor: Flavor,
    *,
    via_call: bool,
    exchange: RequestRecord | None = None,
    full: bool = False,
) -> dict[str, Any]:
    """Twilio's Notification. `full` (a fetch, not a list) adds the HTTP exchange: from `detail` if
    the engine recorded it there, else from `exchange`, the logged request it is about."""
    sid = render_notification_sid(note.id)
    root = account_path(flavor, note.account_id)
    call_sid = None if note.call_id is None else flavor.render_call(note.call_id)
    body: dict[str, Any] = {
        "account_sid": flavor.render_account(note.account_id),
        "api_version": _API_VERSION,
        "call_sid": call_sid,
        "date_created": rfc2822(note.created_at),
        "date_updated": rfc2822(note.created_at),
        "error_code": str(note.code),
        "log": _LOG.get(note.level, "0"),
        "message_date": rfc2822(note.created_at),
        "message_text": _message_text(note),
        "more_info": f"https://www.twilio.com/docs/errors/{note.code}",
        "request_method": note.request_method,
        "request_url": note.request_url or "",
        "sid": sid,
        "uri": f"{root}/Notifications/{sid}.json",
    }
    if via_call and call_sid is not None:
        body["uri"] = f"{root}/Calls/{call_sid}/Notifications/{sid}.json"
    if full:
        body.update(_exchange_fields(note, exchange))
    return body


def _exchange_fields(note: NotificationRecord, exchange: RequestRecord | None) -> dict[str, Any]:
    detail = note.detail or {}
    out: dict[str, Any] = {"request_variables": None, "response_headers": None, "response_body": None}
    if exchange is not None:
        headers = exchange.response.get("headers") or {}
        out["request_variables"] = urlencode(_wire_pairs(exchange.request))
        out["response_headers"] = urlencode([(str(k), str(v)) for k, v in headers.items()]) or None
        out["response_body"] = exchange.response.get("body")
    out.update({key: detail[key] for key in out if key in detail})
    return out


def _about(note: NotificationRecord, records: list[RequestRecord]) -> RequestRecord | None:
    """The logged request a notification is about: the last one to its URL made by its time (a GET
    carries its parameters after the URL's own query)."""
    if not note.request_url:
        return None
    target = note.request_url.split("#", 1)[0]
    joined = target + ("&" if "?" in target else "?")
    matches = [
        r for r in records if (url := str(r.request.get("url") or "")) == target or url.startswith(joined)
    ]
    by_then = [r for r in matches if r.at <= note.created_at]
    chosen = by_then or matches
    return chosen[-1] if chosen else None


# Handlers


@dataclass(frozen=True, slots=True)
class _Event:
    """A request record as a list row: its id is its seq, which names it in page tokens."""

    id: UUID
    record: RequestRecord


async def _call_id(request: Request, flavor: Flavor, account_id: UUID) -> UUID:
    """The call the path names, if it is this account's."""
    call_id = flavor.parse_call(request.path_params["call"])
    call = None if call_id is None else await services(request).calls.get(account_id, call_id)
    if call is None:
        raise _not_found(request)
    return call.id


async def list_events(request: Request, flavor: Flavor, account_id: UUID) -> Response:
    call_id = await _call_id(request, flavor, account_id)
    page = PageRequest.from_parsed(parse_form(query_form(request), LIST_EVENTS))
    records = await services(request).store.list_requests(account_id, call_id, page.window)
    rows = [_Event(UUID(int=r.seq or 0), r) for r in records]
    return _page_response(request, page, "events", rows, lambda row: event_json(row.record))


async def _list_notifications(
    request: Request, flavor: Flavor, account_id: UUID, call_id: UUID | None
) -> Response:
    parsed = parse_form(query_form(request), LIST_NOTIFICATIONS)
    page = PageRequest.from_parsed(parsed)
    values = parsed.values
    after, before = _day_bounds(
        values, "message_date", "message_date_before", "message_date_after", "MessageDate"
    )
    rows = await services(request).store.search_notifications(
        account_id,
        call_id,
        page.window,
        level=_LEVEL_OF_LOG.get(values["log"]) if "log" in values else None,
        created_after=after,
        created_before=before,
    )
    via_call = call_id is not None
    return _page_response(
        request, page, "notifications", rows, lambda note: notification_json(note, flavor, via_call=via_call)
    )


async def list_notifications(request: Request, flavor: Flavor, account_id: UUID) -> Response:
    return await _list_notifications(request, flavor, account_id, None)


async def list_call_notifications(request: Request, flavor: Flavor, account_id: UUID) -> Response:
    call_id = await _call_id(request, flavor, account_id)
    return await _list_notifications(request, flavor, account_id, call_id)


async def fetch_notification(request: Request, flavor: Flavor, account_id: UUID) -> Response:
    call_id = await _call_id(request, flavor, account_id) if "call" in request.path_params else None
    store = services(request).store
    note_id = parse_notification_sid(request.path_params["sid"])
    note = None if note_id is None else await store.get_notification(account_id, note_id)
    if note is None or (call_id is not None and note.call_id != call_id):
        raise _not_found(request)
    exchange = None
    if note.call_id is not None and "request_variables" not in (note.detail or {}):
        exchange = _about(note, await store.requests_of(note.call_id))
    body = notification_json(note, flavor, via_call=call_id is not None, exchange=exchange, full=True)
    return JSONResponse(body)


# Routes


def event_routes(prefix: str, flavors: tuple[Flavor, ...]) -> list[BaseRoute]:
    """The Events and Notifications routes under `prefix`, for `flavors` (as `CompatApi(prefix,
    flavors)`); none if no flavor there has them."""
    if not any(flavor.name in SERVED_FLAVORS for flavor in flavors):
        return []
    base = f"{prefix}/2010-04-01/Accounts/{{account}}"
    fetch: dict[str, Handler] = {"GET": fetch_notification}
    # `.json` first: `{sid}` would otherwise swallow the suffix.
    table: list[tuple[str, dict[str, Handler]]] = [
        ("/Calls/{call}/Events.json", {"GET": list_events}),
        ("/Calls/{call}/Events", {"GET": list_events}),
        ("/Notifications.json", {"GET": list_notifications}),
        ("/Notifications", {"GET": list_notifications}),
        ("/Notifications/{sid}.json", fetch),
        ("/Notifications/{sid}", fetch),
        ("/Calls/{call}/Notifications.json", {"GET": list_call_notifications}),
        ("/Calls/{call}/Notifications", {"GET": list_call_notifications}),
        ("/Calls/{call}/Notifications/{sid}.json", fetch),
        ("/Calls/{call}/Notifications/{sid}", fetch),
    ]
    return [
        ResourceRoute(base + path, Dispatcher(flavors, handlers, serves=_served)) for path, handlers in table
    ]


def _served(flavor: Flavor) -> bool:
    return flavor.name in SERVED_FLAVORS


# OpenAPI


def _json_ref(name: str) -> dict[str, Any]:
    return {"application/json": {"schema": {"$ref": f"#/components/schemas/{name}"}}}


def _get(
    flavor: Flavor, op_id: str, summary: str, schema: str, query: tuple[Param, ...] = ()
) -> dict[str, Any]:
    responses: dict[str, Any] = {"200": {"description": "OK", "content": _json_ref(schema)}}
    for status, error_schema in flavor.error_schemas.items():
        responses[status] = {"description": "Error", "content": _json_ref(error_schema)}
    op: dict[str, Any] = {
        "operationId": f"{flavor.name}_{op_id}",
        "summary": summary,
        "tags": [flavor.name],
        "security": [{"basic": []}],
        "responses": responses,
    }
    if query:
        op["parameters"] = openapi_query(query)
    return op


def event_paths(flavor: Flavor, prefix: str) -> dict[str, Any]:
    """The OpenAPI paths of `event_routes(prefix, ...)` for `flavor` (none for a face without them)."""
    if flavor.name not in SERVED_FLAVORS:
        return {}
    base = f"{prefix}/2010-04-01/Accounts/{{account}}"
    params = {
        name: {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in ("account", "call", "sid")
    }
    account, call, sid = params["account"], params["call"], params["sid"]
    paths: dict[str, Any] = {}
    for suffix in (".json", ""):
        paths[f"{base}/Calls/{{call}}/Events{suffix}"] = {
            "parameters": [account, call],
            "get": _get(flavor, f"list_call_events{suffix}", "The requests made for a call", "CallEventPage",
                        LIST_EVENTS),
        }  # fmt: skip
        paths[f"{base}/Notifications{suffix}"] = {
            "parameters": [account],
            "get": _get(flavor, f"list_notifications{suffix}", "List notifications", "NotificationPage",
                        LIST_NOTIFICATIONS),
        }  # fmt: skip
        paths[f"{base}/Notifications/{{sid}}{suffix}"] = {
            "parameters": [account, sid],
            "get": _get(flavor, f"fetch_notification{suffix}", "Fetch a notification", "Notification"),
        }
        paths[f"{base}/Calls/{{call}}/Notifications{suffix}"] = {
            "parameters": [account, call],
            "get": _get(flavor, f"list_call_notifications{suffix}", "List a call's notifications",
                        "NotificationPage", LIST_NOTIFICATIONS),
        }  # fmt: skip
        paths[f"{base}/Calls/{{call}}/Notifications/{{sid}}{suffix}"] = {
            "parameters": [account, call, sid],
            "get": _get(flavor, f"fetch_call_notification{suffix}", "Fetch a call's notification",
                        "Notification"),
        }  # fmt: skip
    return paths


def _nullable(kind: str) -> dict[str, Any]:
    return {"type": kind, "nullable": True}


_NOTIFICATION: dict[str, Any] = {
    "type": "object",
    "properties": {
        name: _nullable("string")
        for name in (
            "account_sid", "api_version", "call_sid", "date_created", "date_updated", "error_code", "log",
            "message_date", "message_text", "more_info", "request_method", "request_url", "sid", "uri",
            "request_variables", "response_headers", "response_body",
        )
    },
    "description": "request_variables, response_headers and response_body only on a fetched notification",
}  # fmt: skip
_CALL_EVENT: dict[str, Any] = {
    "type": "object",
    "properties": {
        "request": {
            "type": "object",
            "properties": {
                "method": _nullable("string"),
                "url": _nullable("string"),
                "parameters": {"type": "object", "additionalProperties": {"type": "string"}},
            },
        },
        "response": {
            "type": "object",
            "properties": {
                "request_duration": _nullable("integer"),
                "response_code": _nullable("integer"),
                "content_type": _nullable("string"),
                "response_body": _nullable("string"),
                "date_created": _nullable("string"),
            },
        },
    },
}


def _page_schema(key: str, item: str) -> dict[str, Any]:
    props: dict[str, Any] = {k: {"type": "integer"} for k in ("page", "page_size", "start", "end")}
    props |= {k: _nullable("string") for k in ("uri", "first_page_uri", "next_page_uri", "previous_page_uri")}
    props[key] = {"type": "array", "items": {"$ref": f"#/components/schemas/{item}"}}
    return {"type": "object", "properties": props}


#: the component schemas `event_paths` refers to
EVENT_SCHEMAS: dict[str, Any] = {
    "CallEvent": _CALL_EVENT,
    "CallEventPage": _page_schema("events", "CallEvent"),
    "Notification": _NOTIFICATION,
    "NotificationPage": _page_schema("notifications", "Notification"),
}


__all__ = [
    "EVENT_SCHEMAS",
    "LIST_EVENTS",
    "LIST_NOTIFICATIONS",
    "SERVED_FLAVORS",
    "event_json",
    "event_paths",
    "event_routes",
    "notification_json",
    "snake_case",
]
