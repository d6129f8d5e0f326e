"""The 2010-04-01 family's part of the OpenAPI document (Twilio under /2010-04-01, SignalWire under
/api/laml/2010-04-01), built from the same parameter tables the routes validate with."""

from __future__ import annotations

from typing import Any

from callgate.dialects.params import Param, openapi_form_body, openapi_query
from callgate.dialects.registration import OpenApiFragment
from callgate.dialects.signalwire import SIGNALWIRE
from callgate.dialects.twilio import schemas
from callgate.dialects.twilio.events_api import EVENT_SCHEMAS, event_paths
from callgate.dialects.twilio.face import TWILIO
from callgate.dialects.twilio.flavor import Flavor
from callgate.dialects.twilio.recordings_api import CONTROL_RECORDING, START_RECORDING

_ERROR = {
    "type": "object",
    "required": ["code", "message", "more_info", "status"],
    "properties": {
        "code": {"type": "integer"},
        "message": {"type": "string"},
        "more_info": {"type": "string", "format": "uri"},
        "status": {"type": "integer"},
    },
}
_ERROR_ARRAY = {
    "type": "object",
    "properties": {
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "code": {"type": "string"},
                    "message": {"type": "string"},
                    "more_info": {"type": "string"},
                },
            },
        }
    },
}


def _props(required: bool, **fields: str) -> dict[str, Any]:
    """An object schema from `name="type"` pairs; a trailing `?` makes the value nullable."""
    props: dict[str, Any] = {}
    for name, kind in fields.items():
        nullable = kind.endswith("?")
        kind = kind.rstrip("?")
        schema: dict[str, Any] = {"type": "object"} if kind == "object" else {"type": kind}
        if nullable:
            schema["nullable"] = True
        props[name.rstrip("_")] = schema
    out: dict[str, Any] = {"type": "object", "properties": props}
    if required:
        out["required"] = list(props)
    return out


_TWILIO_CALL = _props(
    True,
    sid="string", date_created="string", date_updated="string", parent_call_sid="string?",
    account_sid="string", to="string", to_formatted="string", from_="string", from_formatted="string",
    phone_number_sid="string?", status="string", start_time="string?", end_time="string?",
    duration="string?", price="string?", price_unit="string", direction="string", answered_by="string?",
    api_version="string", forwarded_from="string?", group_sid="string?", caller_name="string?",
    queue_time="string", trunk_sid="string?", uri="string", subresource_uris="object",
)  # fmt: skip
_SIGNALWIRE_CALL = _props(
    True,
    sid="string", account_sid="string", date_created="string", date_updated="string",
    parent_call_sid="string?", to="string", formatted_to="string", to_formatted="string", from_="string",
    formatted_from="string", from_formatted="string", phone_number_sid="string?", status="string",
    start_time="string?", end_time="string?", duration="integer", price="number?", price_unit="string",
    direction="string", answered_by="string?", api_version="string", forwarded_from="string?",
    caller_name="string?", uri="string", subresource_uris="object", annotation="string?",
    group_sid="string?", audio_in_mos="number?", sip_result_code="string?", audio_rtt_avg="integer?",
    audio_rtt_min="integer?", audio_rtt_max="integer?", audio_out_jitter_min="integer?",
    audio_out_jitter_max="integer?", audio_out_jitter_avg="integer?", audio_out_lost="integer?",
)  # fmt: skip
_APPLICATION = _props(
    False,
    sid="string", account_sid="string", api_version="string", date_created="string", date_updated="string",
    friendly_name="string?", voice_url="string?", voice_method="string", voice_fallback_url="string?",
    voice_fallback_method="string", status_callback="string?", status_callback_method="string",
    voice_caller_id_lookup="boolean", sms_url="string?", sms_method="string", sms_fallback_url="string?",
    sms_fallback_method="string", sms_status_callback="string?", message_status_callback="string?",
    public_application_connect_enabled="boolean", sms_status_callback_method="string", uri="string",
)  # fmt: skip


def _json(schema_ref: str) -> dict[str, Any]:
    return {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema_ref}"}}}


def _responses(flavor: Flavor, ok: int, ok_schema: str | None) -> dict[str, Any]:
    out: dict[str, Any] = {str(ok): {"description": "OK"}}
    if ok_schema is not None:
        out[str(ok)]["content"] = _json(flavor.schema_prefix + ok_schema)
    for status, schema in flavor.error_schemas.items():
        out[status] = {"description": "Error", "content": _json(schema)}
    return out


def _operation(
    flavor: Flavor,
    op_id: str,
    summary: str,
    ok: int,
    ok_schema: str | None,
    *,
    body: tuple[Param, ...] = (),
    query: tuple[Param, ...] = (),
) -> dict[str, Any]:
    op: dict[str, Any] = {
        "operationId": f"{flavor.name}_{op_id}",
        "summary": summary,
        "tags": [flavor.name],
        "security": [{"basic": []}],
        "responses": _responses(flavor, ok, ok_schema),
    }
    if body:
        op["requestBody"] = openapi_form_body(body)
    if query:
        op["parameters"] = openapi_query(query)
    return op


def _paths(flavor: Flavor, prefix: str) -> dict[str, Any]:
    base = f"{prefix}/2010-04-01/Accounts/{{account}}"
    account = {"name": "account", "in": "path", "required": True, "schema": {"type": "string"}}
    sid = {"name": "sid", "in": "path", "required": True, "schema": {"type": "string"}}
    paths: dict[str, Any] = {}
    for suffix in (".json", ""):
        paths[f"{base}/Calls{suffix}"] = {
            "parameters": [account],
            "post": _operation(
                flavor,
                f"create_call{suffix}",
                "Create a call",
                flavor.create_call_status,
                "Call",
                body=schemas.create_call(flavor),
            ),
            "get": _operation(
                flavor, f"list_calls{suffix}", "List calls", 200, "CallPage", query=schemas.list_calls(flavor)
            ),
        }
        paths[f"{base}/Calls/{{sid}}{suffix}"] = {
            "parameters": [account, sid],
            "get": _operation(flavor, f"fetch_call{suffix}", "Fetch a call", 200, "Call"),
            "post": _operation(
                flavor, f"update_call{suffix}", "Update a call", 200, "Call", body=schemas.update_call(flavor)
            ),
            "delete": _operation(flavor, f"delete_call{suffix}", "Delete an ended call", 204, None),
        }
        paths[f"{base}/Applications{suffix}"] = {
            "parameters": [account],
            "post": _operation(
                flavor,
                f"create_application{suffix}",
                "Create an application",
                201,
                "Application",
                body=schemas.APPLICATION_WRITE,
            ),
            "get": _operation(
                flavor,
                f"list_applications{suffix}",
                "List applications",
                200,
                "ApplicationPage",
                query=schemas.LIST_APPLICATIONS,
            ),
        }
        paths[f"{base}/Applications/{{sid}}{suffix}"] = {
            "parameters": [account, sid],
            "get": _operation(
                flavor, f"fetch_application{suffix}", "Fetch an application", 200, "Application"
            ),
            "post": _operation(
                flavor,
                f"update_application{suffix}",
                "Update an application",
                200,
                "Application",
                body=schemas.APPLICATION_WRITE,
            ),
            "delete": _operation(flavor, f"delete_application{suffix}", "Delete an application", 204, None),
        }
    return paths


def _recording_paths(flavor: Flavor, prefix: str) -> dict[str, Any]:
    base = f"{prefix}/2010-04-01/Accounts/{{account}}"
    params = {
        name: {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in ("account", "sid", "call")
    }
    account, sid, call = params["account"], params["sid"], params["call"]

    def media(fmt: str, content_type: str) -> dict[str, Any]:
        op = _operation(flavor, f"recording_media_{fmt}", f"The recording's audio ({fmt})", 200, None)
        op["responses"]["200"]["content"] = {content_type: {"schema": {"type": "string", "format": "binary"}}}
        return op

    paths: dict[str, Any] = {}
    for suffix in (".json", ""):
        paths[f"{base}/Recordings{suffix}"] = {
            "parameters": [account],
            "get": _operation(flavor, f"list_recordings{suffix}", "List recordings", 200, "RecordingPage"),
        }
        paths[f"{base}/Calls/{{call}}/Recordings{suffix}"] = {
            "parameters": [account, call],
            "get": _operation(
                flavor, f"list_call_recordings{suffix}", "List a call's recordings", 200, "RecordingPage"
            ),
            "post": _operation(
                flavor,
                f"start_call_recording{suffix}",
                "Start recording a call in progress",
                201,
                "Recording",
                body=START_RECORDING,
            ),
        }
        paths[f"{base}/Calls/{{call}}/Recordings/{{sid}}{suffix}"] = {
            "parameters": [account, call, sid],
            "get": _operation(flavor, f"fetch_call_recording{suffix}", "Fetch a recording", 200, "Recording"),
            "post": _operation(
                flavor,
                f"update_call_recording{suffix}",
                "Pause, resume or stop a recording (sid Twilio.CURRENT: the one going now)",
                200,
                "Recording",
                body=CONTROL_RECORDING,
            ),
            "delete": _operation(flavor, f"delete_call_recording{suffix}", "Delete a recording", 204, None),
        }
    paths[f"{base}/Recordings/{{sid}}.json"] = {
        "parameters": [account, sid],
        "get": _operation(flavor, "fetch_recording", "Fetch a recording", 200, "Recording"),
        "delete": _operation(flavor, "delete_recording", "Delete a recording and its audio", 204, None),
    }
    paths[f"{base}/Recordings/{{sid}}"] = {
        "parameters": [account, sid],
        "get": media("default", "audio/x-wav"),
    }
    paths[f"{base}/Recordings/{{sid}}.wav"] = {
        "parameters": [account, sid],
        "get": media("wav", "audio/x-wav"),
    }
    paths[f"{base}/Recordings/{{sid}}.mp3"] = {
        "parameters": [account, sid],
        "get": media("mp3", "audio/mpeg"),
    }
    return paths


_RECORDING: dict[str, Any] = {
    "type": "object",
    "properties": {
        name: {"type": "string", "nullable": True}
        for name in (
            "sid", "account_sid", "call_sid", "conference_sid", "date_created", "date_updated", "start_time",
            "duration", "price", "price_unit", "status", "source", "uri", "media_url", "api_version",
        )
    }
    | {"channels": {"type": "integer"}, "error_code": {"type": "integer", "nullable": True}},
}  # fmt: skip


def _page(key: str, item: str) -> dict[str, Any]:
    props: dict[str, Any] = {k: {"type": "integer"} for k in ("page", "page_size", "start", "end")}
    props |= {
        k: {"type": "string", "nullable": True}
        for k in ("uri", "first_page_uri", "next_page_uri", "previous_page_uri")
    }
    props[key] = {"type": "array", "items": {"$ref": f"#/components/schemas/{item}"}}
    return {"type": "object", "properties": props}


def fragment() -> OpenApiFragment:
    """Every route of the family, and the schemas they answer with."""
    paths = (
        _paths(TWILIO, "")
        | _paths(SIGNALWIRE, "/api/laml")
        | _recording_paths(TWILIO, "")
        | _recording_paths(SIGNALWIRE, "/api/laml")
        | event_paths(TWILIO, "")
    )
    schemas = {
        "Error": _ERROR,
        "ErrorArray": _ERROR_ARRAY,
        "Call": _TWILIO_CALL,
        "SignalWireCall": _SIGNALWIRE_CALL,
        "Application": _APPLICATION,
        "SignalWireApplication": _APPLICATION,
        "CallPage": _page("calls", "Call"),
        "SignalWireCallPage": _page("calls", "SignalWireCall"),
        "ApplicationPage": _page("applications", "Application"),
        "SignalWireApplicationPage": _page("applications", "SignalWireApplication"),
        "Recording": _RECORDING,
        "SignalWireRecording": _RECORDING,
        "RecordingPage": _page("recordings", "Recording"),
        "SignalWireRecordingPage": _page("recordings", "SignalWireRecording"),
        **EVENT_SCHEMAS,
    }
    description = (
        "Twilio- and SignalWire-compatible Calls and Applications APIs. "
        "On /2010-04-01 the account id in the path picks the face: "
        "AC... is Twilio, a UUID is SignalWire."
    )
    return OpenApiFragment(paths, schemas, description)
