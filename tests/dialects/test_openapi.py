"""The served OpenAPI document is valid and describes exactly what the routes accept."""

from __future__ import annotations

import re

import httpx
import pytest
from openapi_spec_validator import validate
from starlette.routing import Route

from callgate.dialects.twilio.face import TWILIO

# Values for string parameters whose schema is a pattern or free text.
VALID_STRINGS = {
    "SendDigits": "ww12#",
    "Byoc": "BY" + "ab" * 16,
    "MaxPricePerMinute": "0.0125",
    "CallerId": "+14155550198",
}


NO_NUL = "^[^\\x00]*$"  # the pattern of free text


def _formats(schema):
    return {alt.get("format") for alt in schema.get("anyOf", [schema])}


def _types(schema):
    return {alt.get("type", schema.get("type")) for alt in schema.get("anyOf", [schema])}


def valid_value(name, schema):
    if schema.get("type") == "array":
        return [valid_value(name, schema["items"])]
    if "boolean" in _types(schema):
        return "true"
    if "date" in _formats(schema):
        return "2026-11-22"
    if "uri" in _formats(schema):
        return "https://example.com/x"
    if "enum" in schema:
        return schema["enum"][-1]
    if schema.get("type") == "integer":
        return str(schema.get("maximum", schema.get("minimum", 1)))
    if schema.get("type") == "boolean":
        return "true"
    if schema.get("format") == "uri":
        return "https://example.com/x"
    return VALID_STRINGS.get(name, "text")


def invalid_value(schema):
    if schema.get("type") == "array":
        return invalid_value(schema["items"])
    if "boolean" in _types(schema):
        return "perhaps"
    if "date" in _formats(schema):
        return "22/11/2026"
    if "uri" in _formats(schema):
        return "not a url"
    if schema.get("pattern") == NO_NUL:
        return "a\x00b"
    if "enum" in schema:
        return "not-one-of-them"
    if schema.get("type") == "integer":
        return str(schema["maximum"] + 1) if "maximum" in schema else "not-an-integer"
    if schema.get("type") == "boolean":
        return "perhaps"
    if schema.get("format") == "uri":
        return "not a url"
    if "pattern" in schema:
        return "!!"
    if "maxLength" in schema:
        return "x" * (schema["maxLength"] + 1)
    return None


def error_code(body):
    """The code of a Twilio error body, or of the first entry of a SignalWire error array."""
    return int(body["errors"][0]["code"]) if "errors" in body else body["code"]


@pytest.fixture
def document(live):
    r = httpx.get(live.base_url + "/openapi.json")
    assert r.status_code == 200
    return r.json()


def test_document_is_valid_openapi(document):
    validate(document)


def test_every_route_is_documented_with_its_methods(live, document):
    documented = {
        path: {m.upper() for m in ops if m != "parameters"} for path, ops in document["paths"].items()
    }
    routed = {}
    for route in live.app.routes:
        if isinstance(route, Route) and route.path not in {"/openapi.json", "/healthz"}:
            # Only the prefix without a flavour of its own is ambiguous; the document lists it as Twilio.
            routed[route.path] = route.path
    assert set(routed) == set(documented)
    for path in documented:
        assert documented[path] <= {"GET", "POST", "DELETE"}


def _form_operations(document):
    for path, ops in document["paths"].items():
        if not path.endswith(".json"):
            continue
        post = ops.get("post")
        if post and "requestBody" in post:
            yield path, post


def _account_path(path, account):
    if path.startswith("/api/laml"):
        return path.replace("{account}", str(account.id)), (str(account.id), account.signalwire_token)
    sid = TWILIO.render_account(account.id)
    return path.replace("{account}", sid), (sid, account.auth_token)


CREATE_BASE = {"To": "+14155550100", "From": "+14155550199", "Url": "https://example.com/voice"}
# Byoc must also name a configured trunk and no CallToken is valid yet: both have tests of their own.
SKIP_CREATE = {"To", "From", "Url", "Twiml", "Laml", "ApplicationSid", "Byoc", "CallToken"}


def test_create_call_accepts_what_the_schema_allows_and_refuses_the_rest(live, account, document):
    checked = 0
    for path, op in _form_operations(document):
        if not path.endswith("/Calls.json"):
            continue
        url_path, auth = _account_path(path, account)
        schema = op["requestBody"]["content"]["application/x-www-form-urlencoded"]["schema"]
        assert set(schema["required"]) == {"To", "From"}
        for name, prop in schema["properties"].items():
            if name in SKIP_CREATE:
                continue
            good = httpx.post(
                live.base_url + url_path, data=CREATE_BASE | {name: valid_value(name, prop)}, auth=auth
            )
            created = next(int(code) for code in op["responses"] if code.startswith("2"))
            assert good.status_code == created, (path, name, good.text)
            bad_value = invalid_value(prop)
            if bad_value is not None:
                bad = httpx.post(live.base_url + url_path, data=CREATE_BASE | {name: bad_value}, auth=auth)
                assert bad.status_code == 400, (path, name, bad_value)
                assert error_code(bad.json()) == prop["x-error-code"], (path, name, bad.json())
            checked += 1
    assert checked > 60  # both faces, every parameter but the ones that choose the document


def test_application_writes_match_the_schema(live, account, document):
    for path, op in _form_operations(document):
        if not path.endswith("/Applications.json"):
            continue
        url_path, auth = _account_path(path, account)
        schema = op["requestBody"]["content"]["application/x-www-form-urlencoded"]["schema"]
        for name, prop in schema["properties"].items():
            good = httpx.post(live.base_url + url_path, data={name: valid_value(name, prop)}, auth=auth)
            created = next(int(code) for code in op["responses"] if code.startswith("2"))
            assert good.status_code == created, (path, name, good.text)
            bad_value = invalid_value(prop)
            if bad_value is not None:
                bad = httpx.post(live.base_url + url_path, data={name: bad_value}, auth=auth)
                assert bad.status_code == 400, (path, name)
                assert error_code(bad.json()) == prop["x-error-code"], (path, name, bad.json())


def test_list_query_parameters_match_the_schema(live, account, document):
    for path, ops in document["paths"].items():
        if not path.endswith("/Calls.json"):
            continue
        url_path, auth = _account_path(path, account)
        for param in ops["get"]["parameters"]:
            name, schema = param["name"], param["schema"]
            if re.match(r"(Start|End)Time", name):
                value = "2026-11-22"
            elif name == "ParentCallSid":
                value = (
                    "CA" + "0" * 32
                    if not path.startswith("/api/laml")
                    else "6f1c2e54-0000-4000-8000-000000000000"
                )
            elif name == "PageToken":
                value = "PA" + "0" * 32
            else:
                value = valid_value(name, schema)
            r = httpx.get(live.base_url + url_path, params={name: value}, auth=auth)
            assert r.status_code == 200, (path, name, r.text)
            bad_value = invalid_value(schema)
            if bad_value is not None:
                r = httpx.get(live.base_url + url_path, params={name: bad_value}, auth=auth)
                assert r.status_code == 400, (path, name)
                assert error_code(r.json()) == schema["x-error-code"], (path, name, r.json())


def _matches(value, schema):
    if value is None:
        return schema.get("nullable", False)
    kind = schema["type"]
    return {
        "string": isinstance(value, str),
        "integer": isinstance(value, int) and not isinstance(value, bool),
        "number": isinstance(value, int | float) and not isinstance(value, bool),
        "boolean": isinstance(value, bool),
        "object": isinstance(value, dict),
    }[kind]


def test_responses_match_their_documented_schemas(live, account, document):
    schemas = document["components"]["schemas"]
    checks = [
        ("/2010-04-01/Accounts/{account}/Calls.json", "Call", CREATE_BASE),
        ("/api/laml/2010-04-01/Accounts/{account}/Calls.json", "SignalWireCall", CREATE_BASE),
        ("/2010-04-01/Accounts/{account}/Applications.json", "Application", {"FriendlyName": "x"}),
        ("/api/laml/2010-04-01/Accounts/{account}/Applications.json", "SignalWireApplication", {}),
    ]
    for path, name, data in checks:
        url_path, auth = _account_path(path, account)
        body = httpx.post(live.base_url + url_path, data=data, auth=auth).json()
        props = schemas[name]["properties"]
        assert set(body) <= set(props), (name, set(body) - set(props))
        assert set(schemas[name].get("required", [])) <= set(body)
        for key, value in body.items():
            assert _matches(value, props[key]), (name, key, value)


def _body_schema(document, path):
    return document["paths"][path]["post"]["requestBody"]


def test_the_document_declares_the_rules_the_server_enforces(document):
    calls, laml = "/2010-04-01/Accounts/{account}/Calls", "/api/laml/2010-04-01/Accounts/{account}/Calls"
    create = _body_schema(document, calls + ".json")
    assert create["required"] is True
    props = create["content"]["application/x-www-form-urlencoded"]["schema"]["properties"]
    assert props["To"]["minLength"] == 1  # a blank To is a missing To (21201)
    assert props["CallReason"]["pattern"] == NO_NUL
    query = {p["name"]: p["schema"] for p in document["paths"][calls + ".json"]["get"]["parameters"]}
    assert query["StartTime>"]["anyOf"] == [{"format": "date"}, {"format": "date-time"}]
    assert query["PageToken"]["pattern"] == "^P[AB][0-9a-f]{32}$"
    assert query["ParentCallSid"]["pattern"] == "^CA[0-9a-fA-F]{32}$"
    laml_query = {p["name"]: p["schema"] for p in document["paths"][laml + ".json"]["get"]["parameters"]}
    assert laml_query["ParentCallSid"]["pattern"].startswith("^[0-9a-fA-F]{8}-")
    apps = "/2010-04-01/Accounts/{account}/Applications"
    app_props = _body_schema(document, apps + ".json")["content"]["application/x-www-form-urlencoded"][
        "schema"
    ]
    assert app_props["properties"]["FriendlyName"]["pattern"] == NO_NUL
    # as Twilio's document: every parameter optional, so the body is too (an update may change nothing)
    for path in (apps + ".json", apps + "/{sid}.json", calls + "/{sid}.json"):
        assert _body_schema(document, path)["required"] is False, path
