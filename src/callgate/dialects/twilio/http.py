"""Request plumbing shared by the 2010-04-01 routes: forms, HTTP Basic, paging."""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar
from uuid import UUID

from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

from callgate.core.call import Account
from callgate.core.errors import AuthenticationFailed, InvalidParameter, MethodNotAllowed
from callgate.dialects.params import Form, Parsed
from callgate.dialects.twilio.flavor import Flavor
from callgate.engine.services import Services
from callgate.store.base import Page

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 1 << 20

H = TypeVar("H")


class ResourceRoute(Route):
    """A route that every HTTP method reaches: its endpoint answers the methods the resource does not
    take itself (`handler_for`), in the face's error body and with the resource's own Allow header."""

    def __init__(self, path: str, endpoint: Callable[..., Any]) -> None:
        super().__init__(path, endpoint)
        self.methods = None  # Starlette's 405 would be a plain-text page listing the wrong methods


def handler_for(handlers: Mapping[str, H], request: Request) -> H:
    """The handler of the request's method, or 405 (Twilio 20004) with the methods the resource takes."""
    handler = handlers.get(request.method)
    if handler is None:
        raise MethodNotAllowed(
            f"The HTTP method {request.method} is not allowed on this resource", allow=list(handlers)
        )
    return handler


def services(request: Request) -> Services:
    return request.app.state.services  # type: ignore[no-any-return]


def _json_pairs(body: bytes) -> list[tuple[str, str]]:
    """A JSON object as form pairs: lists repeat the key, booleans become true/false."""
    try:
        data = json.loads(body)
    except ValueError:
        raise InvalidParameter("The request body is not valid JSON", code=20001) from None
    if not isinstance(data, dict):
        raise InvalidParameter("The request body must be a JSON object", code=20001)
    pairs: list[tuple[str, str]] = []
    for key, value in data.items():
        for item in value if isinstance(value, list) else [value]:
            if item is None:
                continue
            if isinstance(item, bool):
                item = "true" if item else "false"
            elif not isinstance(item, str | int | float):
                raise InvalidParameter(
                    f"{key} must be a string, a number or a boolean", code=20001, param=key
                )
            pairs.append((key, str(item)))
    return pairs


def _too_big() -> InvalidParameter:
    return InvalidParameter(f"The request body is larger than {MAX_BODY_BYTES} bytes", code=20001)


async def _body(request: Request) -> bytes:
    """The request body, refused (400) past MAX_BODY_BYTES before more of it is read.

    Read from the ASGI messages themselves (Starlette's `stream()` costs an async generator per
    request); a handler reads the body once, through here."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise _too_big()
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await request.receive()
        if message["type"] != "http.request":
            raise ClientDisconnect()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise _too_big()
        chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def client_gone(request: Request) -> Response:
    """What an endpoint returns when its client closed the connection before the whole body came
    (`ClientDisconnect`): one line in the log, no traceback, no error of ours; the response goes
    nowhere (the server drops what is sent on a closed connection)."""
    log.info("%s %s: the client disconnected before sending its whole body", request.method, request.url.path)
    return Response(status_code=400)


async def read_form(request: Request) -> Form:
    """The parameters as the SDKs send them: a urlencoded form (repeated keys kept), or a JSON object."""
    body = await _body(request)
    content_type = request.headers.get("content-type", "application/x-www-form-urlencoded").lower()
    if content_type.startswith("application/json"):
        return Form.from_pairs(_json_pairs(body))
    if body and not content_type.startswith("application/x-www-form-urlencoded"):
        raise InvalidParameter(
            "Send parameters as application/x-www-form-urlencoded (or JSON), "
            f"not {content_type.split(';')[0]}",
            code=20001,
        )
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidParameter("The request body is not valid UTF-8", code=20001) from None
    return Form.from_urlencoded(text)


def query_form(request: Request) -> Form:
    return Form.from_pairs(request.query_params.multi_items())


def _basic_credentials(header: str | None) -> tuple[str, str] | None:
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, sep, password = decoded.partition(":")
    return (user, password) if sep else None


async def authenticate(request: Request, flavor: Flavor, account_id: UUID | None) -> Account:
    """The account in the path (`account_id`), if the HTTP Basic credentials are its own (Twilio 20003)."""
    credentials = _basic_credentials(request.headers.get("authorization"))
    if credentials is None:
        raise AuthenticationFailed("Authentication Error - No credentials provided")
    user, password = credentials
    user_id = flavor.parse_account(user)
    if account_id is None or user_id != account_id:
        raise AuthenticationFailed("Authenticate")
    account = await services(request).accounts.get(account_id)
    if account is None or not hmac.compare_digest(password.encode(), flavor.token_of(account).encode()):
        raise AuthenticationFailed("Authenticate")
    return account


@dataclass(frozen=True, slots=True)
class PageRequest:
    """A list request's page: its number and size, and the rows to fetch for it.

    Page tokens name a row, not a position: `PA` + the 32 hex digits of the last row of the page
    before (the next page starts after it), `PB` + those of the first row of the page after.
    """

    number: int
    size: int
    token: str | None
    window: Page  # asks for one row more than `size`, to learn whether another page follows

    @classmethod
    def from_parsed(cls, parsed: Parsed) -> PageRequest:
        parsed.raise_first()
        size = parsed.values.get("page_size", 50)
        number = parsed.values.get("page", 0)
        token = parsed.values.get("page_token")
        if token is None:
            return cls(number, size, None, Page(size + 1, offset=number * size))
        marker = UUID(hex=token[2:])
        if token.startswith("PB"):
            return cls(number, size, token, Page(size + 1, before=marker))
        return cls(number, size, token, Page(size + 1, after=marker))

    def split(self, rows: list[Any]) -> tuple[list[Any], str | None, str | None]:
        """The rows of this page, and the tokens of the next and previous pages."""
        backwards = self.window.before is not None
        more = len(rows) > self.size
        if more:
            rows = rows[1:] if backwards else rows[: self.size]
        next_token = f"PA{rows[-1].id.hex}" if rows and (more or backwards) else None
        previous_token = f"PB{rows[0].id.hex}" if rows and self.number > 0 else None
        return rows, next_token, previous_token


def paging_filters(request: Request) -> list[tuple[str, str]]:
    return [
        (k, v) for k, v in request.query_params.multi_items() if k not in {"PageSize", "Page", "PageToken"}
    ]


def page_path(request: Request) -> str:
    """The list path relative to the API root (no /api/laml): what next_page_uri must start with."""
    path = request.url.path
    return path.removeprefix("/api/laml")
