"""The composition root loops over `Dialect` registrations: faces, hot routes, error bodies, OpenAPI."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from callgate.app import DIALECTS, faces_for
from callgate.config import Settings
from callgate.core.errors import ApiError, NotFound
from callgate.dialects.openapi import openapi_document
from callgate.dialects.registration import AnyHot, Dialect, OpenApiFragment, owner


class Hot:
    def __init__(self, paths: dict[str, str]) -> None:
        self.paths = paths

    def match(self, path: str) -> Any:
        return None if path not in self.paths else (self.paths[path], {})


def other(name: str = "bandwidth", prefixes: tuple[str, ...] = ("/api/v2/",)) -> Dialect:
    def error_response(error: ApiError, path: str) -> Response:
        return Response(f"{name}: {error.message}", status_code=error.http_status)

    return Dialect(
        name=name,
        faces=lambda base: {name: f"face at {base}"},  # type: ignore[dict-item]
        routes=lambda _settings: [],
        hot=lambda _routes: Hot({}),
        openapi=lambda: OpenApiFragment({"/api/v2/calls": {"post": {}}}, {"BwCall": {}}, "Bandwidth too."),
        error_response=error_response,
        prefixes=prefixes,
    )


def test_the_faces_of_every_dialect_in_order_the_first_first():
    faces = faces_for(Settings(db="sqlite://", public_url="http://cg.test/"), (*DIALECTS, other()))
    assert list(faces) == ["twilio", "signalwire", "bandwidth"]
    assert faces["bandwidth"] == "face at http://cg.test"


def test_a_path_answers_in_the_dialect_its_prefix_names_else_the_first():
    dialects = (*DIALECTS, other())
    assert owner(dialects, "/api/v2/accounts/1/nothing").name == "bandwidth"
    assert owner(dialects, "/api/laml/2010-04-01/nothing").name == "2010-04-01"
    assert owner(dialects, "/nothing/at/all").name == "2010-04-01"
    response = owner(dialects, "/api/v2/x").error_response(NotFound("No /api/v2/x"), "/api/v2/x")
    assert response.status_code == 404 and response.body == b"bandwidth: No /api/v2/x"


def test_hot_routes_of_several_dialects_are_tried_in_order():
    hot = AnyHot((Hot({"/a": "first"}), Hot({"/a": "second", "/b": "second"})))
    assert hot.match("/a") == ("first", {}) and hot.match("/b") == ("second", {}) and hot.match("/c") is None
    assert AnyHot().match("/a") is None


def test_the_openapi_document_holds_every_dialects_fragment():
    document = openapi_document((*DIALECTS, other()))
    paths = document["paths"]
    assert "/api/v2/calls" in paths and "/2010-04-01/Accounts/{account}/Calls.json" in paths
    assert "BwCall" in document["components"]["schemas"] and "Call" in document["components"]["schemas"]
    assert document["info"]["description"].endswith(" Bandwidth too.")
    assert openapi_document((other(),))["info"]["description"] == "Bandwidth too."
