"""Request plumbing shared by the 2010-04-01 routes: the resource dispatcher, forms, HTTP Basic, paging.

Every REST resource is one `ResourceRoute` whose endpoint is a `Dispatcher`: the face the path's
account id belongs to, the account's credentials (unless the resource is public), the handler of
the request's method (else 405), and every failure rendered as the face's error body. A handler is
`(request, flavor, account_id) -> Response` and only parses, calls one service, renders.

`FastRoutes` is the one seam for speed: the app serves the routes marked `hot` (the Calls list:
create call) straight from its `__call__`, past the middleware stack and the router, through the
very same dispatcher. `FastRoutes(())` is its plain twin: everything through Starlette's router.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar
from uuid import UUID

from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

from callgate.core.call import Account
from callgate.core.errors import (
    ApiError,
    AuthenticationFailed,
    InternalError,
    InvalidParameter,
    MethodNotAllowed,
    NotFound,
)
from callgate.dialects.params import Form, Parsed
from callgate.dialects.twilio.flavor import Flavor
from callgate.engine.services import Services
from callgate.store.base import Page

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 1 << 20

H = TypeVar("H")

#: a resource's handler of one method: (request, face, the account the path names) -> response;
#: the account is authenticated unless the resource is public
Handler = Callable[[Request, Flavor, UUID], Awaitable[Response]]
Endpoint = Callable[[Request], Awaitable[Response]]


def not_found(request: Request) -> NotFound:
    return NotFound(f"The requested resource {request.url.path} was not found")


def flavor_for(flavors: tuple[Flavor, ...], account_ref: str) -> tuple[Flavor, UUID | None]:
    """The face the path's account id belongs to, and that id parsed (None if it is no id): with one
    flavor it is fixed, else the id decides (a Twilio `AC...` sid or a SignalWire UUID)."""
    for flavor in flavors:
        account_id = flavor.parse_account(account_ref)
        if account_id is not None:
            return flavor, account_id
    return flavors[0], None


def _every_flavor(_flavor: Flavor) -> bool:
    return True


class Dispatcher:
    """The endpoint of one REST resource (see the module's docstring).

    `public` resources take no credentials (the account must still be a well-formed id, else 404);
    `serves(flavor)` False answers 404 for a face that does not have the resource.
    """

    def __init__(
        self,
        flavors: tuple[Flavor, ...],
        handlers: Mapping[str, Handler],
        *,
        public: bool = False,
        serves: Callable[[Flavor], bool] = _every_flavor,
    ) -> None:
        self.flavors = flavors
        self.handlers = dict(handlers)
        self.public = public
        self.serves = serves

    async def dispatch(self, request: Request) -> Response:
        flavor, account_id = flavor_for(self.flavors, request.path_params["account"])
        try:
            if not self.serves(flavor):
                raise not_found(request)
            if not self.public:
                account_id = (await authenticate(request, flavor, account_id)).id
            elif account_id is None:
                raise not_found(request)
            handler = handler_for(self.handlers, request)
            return await handler(request, flavor, account_id)
        except ApiError as exc:
            return flavor.error_response(exc, request.url.path, exc.all_errors)
        except ClientDisconnect:
            return client_gone(request)
        except Exception:
            # Never a bare text/plain 500: the SDKs can only read the vendor's error body.
            log.exception("%s %s failed", request.method, request.url.path)
            error = InternalError("An internal error occurred; the request may be retried")
            return flavor.error_response(error, request.url.path)


class ResourceRoute(Route):
    """A route that every HTTP method reaches: its endpoint answers the methods the resource does not
    take itself (`handler_for`), in the face's error body and with the resource's own Allow header.
    `hot` routes are also served past the router (`FastRoutes`)."""

    def __init__(self, path: str, endpoint: Dispatcher | Endpoint, *, hot: bool = False) -> None:
        self.dispatcher = endpoint if isinstance(endpoint, Dispatcher) else None
        super().__init__(path, endpoint.dispatch if isinstance(endpoint, Dispatcher) else endpoint)
        self.methods = None  # Starlette's 405 would be a plain-text page listing the wrong methods
        self.hot = hot and self.dispatcher is not None


class FastRoutes:
    """The `hot` routes among `routes`, matched by their own path patterns, in order.

    Only for resources no route before them could match and that need nothing of the middleware:
    their dispatcher turns every exception into the face's error body itself.
    """

    def __init__(self, routes: Iterable[Any]) -> None:
        self._table = [
            (route.path_regex, route.dispatcher.dispatch)
            for route in routes
            if isinstance(route, ResourceRoute) and route.hot and route.dispatcher is not None
        ]

    def __len__(self) -> int:
        return len(self._table)

    def match(self, path: str) -> tuple[Endpoint, dict[str, str]] | None:
        """The endpoint for `path` and its path parameters (all plain strings), or None."""
        for pattern, endpoint in self._table:
            found = pattern.fullmatch(path)
            if found is not None:
                return endpoint, found.groupdict()
        return None


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
