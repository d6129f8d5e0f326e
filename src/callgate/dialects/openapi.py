"""The OpenAPI document, built from the same parameter tables the routes validate with."""

from __future__ import annotations

from typing import Any

from callgate import __version__
from callgate.dialects.params import Param, openapi_form_body, openapi_query
from callgate.dialects.signalwire import SIGNALWIRE
from callgate.dialects.twilio import schemas
from callgate.dialects.twilio.face import TWILIO
from callgate.dialects.twilio.flavor import Flavor

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


def _json(schema_ref: str) -> dict[str, Any]:
    return {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema_ref}"}}}


def _responses(flavor: Flavor, ok: int, ok_schema: str | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    out[str(ok)] = {"description": "OK"} | ({"content": _json(ok_schema)} if ok_schema else {})
    if flavor is SIGNALWIRE:
        out["400"] = {"description": "Invalid parameters, all listed", "content": _json("ErrorArray")}
        for status in ("401", "404", "422"):
            out[status] = {"description": "Error", "content": _json("Error")}
    else:
        for status in ("400", "401", "404"):
            out[status] = {"description": "Error", "content": _json("Error")}
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
                flavor, f"create_call{suffix}", "Create a call", 201, "Call", body=schemas.create_call(flavor)
            ),
            "get": _operation(
                flavor, f"list_calls{suffix}", "List calls", 200, "CallPage", query=schemas.LIST_CALLS
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


def _page(key: str, item: str) -> dict[str, Any]:
    props: dict[str, Any] = {k: {"type": "integer"} for k in ("page", "page_size", "start", "end")}
    props |= {
        k: {"type": "string", "nullable": True}
        for k in ("uri", "first_page_uri", "next_page_uri", "previous_page_uri")
    }
    props[key] = {"type": "array", "items": {"$ref": f"#/components/schemas/{item}"}}
    return {"type": "object", "properties": props}


def openapi_document() -> dict[str, Any]:
    """OpenAPI 3.0 for every route: Twilio under /2010-04-01, SignalWire under /api/laml/2010-04-01."""
    paths = _paths(TWILIO, "") | _paths(SIGNALWIRE, "/api/laml")
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "Callgate",
            "version": __version__,
            "description": "Twilio- and SignalWire-compatible Calls and Applications APIs. "
            "On /2010-04-01 the account id in the path picks the face: "
            "AC... is Twilio, a UUID is SignalWire.",
        },
        "paths": paths,
        "components": {
            "securitySchemes": {"basic": {"type": "http", "scheme": "basic"}},
            "schemas": {
                "Error": _ERROR,
                "ErrorArray": _ERROR_ARRAY,
                "Call": {"type": "object"},
                "Application": {"type": "object"},
                "CallPage": _page("calls", "Call"),
                "ApplicationPage": _page("applications", "Application"),
            },
        },
    }
