"""The 2010-04-01 Calls and Applications routes, for every `Flavor` (Twilio, SignalWire).

Routes parse and validate, call one service, and render; they hold no SQL and no SIP.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any
from uuid import UUID

from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from callgate.core.call import APPLICATION_FIELDS, Account
from callgate.core.errors import ApiError, InternalError, InvalidParameter, NotFound
from callgate.dialects.params import parse_form
from callgate.dialects.responses import JSONResponse
from callgate.dialects.twilio import commands, schemas
from callgate.dialects.twilio.flavor import Flavor
from callgate.dialects.twilio.http import (
    PageRequest,
    ResourceRoute,
    authenticate,
    client_gone,
    handler_for,
    page_path,
    paging_filters,
    query_form,
    read_form,
    services,
)
from callgate.dialects.twilio.render import page_body

log = logging.getLogger(__name__)

Handler = Callable[[Request, Flavor, Account], Awaitable[Response]]


def _not_found(request: Request) -> NotFound:
    return NotFound(f"The requested resource {request.url.path} was not found")


class CompatApi:
    """The routes under one prefix. `flavors` picks the face: with one flavor it is fixed, else the
    account id in the path decides (a Twilio `AC...` sid or a SignalWire UUID)."""

    def __init__(self, prefix: str, flavors: tuple[Flavor, ...]) -> None:
        self.prefix = prefix
        self.flavors = flavors
        self._endpoints: dict[str, Callable[[Request], Awaitable[Response]]] = {}

    def flavor_for(self, account_ref: str) -> tuple[Flavor, UUID | None]:
        """The face the path's account id belongs to, and that id parsed (None if it is no id)."""
        for flavor in self.flavors:
            account_id = flavor.parse_account(account_ref)
            if account_id is not None:
                return flavor, account_id
        return self.flavors[0], None

    def routes(self) -> list[BaseRoute]:
        base = f"{self.prefix}/2010-04-01/Accounts/{{account}}"
        table: list[tuple[str, dict[str, Handler]]] = [
            ("/Calls", {"GET": list_calls, "POST": create_call}),
            ("/Calls/{sid}", {"GET": fetch_call, "POST": update_call, "DELETE": delete_call}),
            ("/Applications", {"GET": list_applications, "POST": create_application}),
            (
                "/Applications/{sid}",
                {"GET": fetch_application, "POST": update_application, "DELETE": delete_application},
            ),
        ]
        if not self._endpoints:
            self._endpoints = {path: self._endpoint(handlers) for path, handlers in table}
        routes: list[BaseRoute] = []
        # `.json` first: `{sid}` would otherwise swallow the suffix.
        for suffix in (".json", ""):
            for path, _ in table:
                routes.append(ResourceRoute(base + path + suffix, self._endpoints[path]))
        return routes

    def calls_shortcut(self) -> tuple[re.Pattern[str], Callable[[Request], Awaitable[Response]]]:
        """The Calls list resource (create and list): its path pattern and the endpoint its routes
        use, for an app that serves its hottest route without going through the router."""
        if not self._endpoints:
            self.routes()
        prefix = re.escape(self.prefix)
        pattern = re.compile(rf"{prefix}/2010-04-01/Accounts/(?P<account>[^/]+)/Calls(?:\.json)?")
        return pattern, self._endpoints["/Calls"]

    def _endpoint(self, handlers: dict[str, Handler]) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            flavor, account_id = self.flavor_for(request.path_params["account"])
            try:
                account = await authenticate(request, flavor, account_id)
                handler = handler_for(handlers, request)
                return await handler(request, flavor, account)
            except ApiError as exc:
                return flavor.error_response(exc, request.url.path, exc.all_errors)
            except ClientDisconnect:
                return client_gone(request)
            except Exception:
                # Never a bare text/plain 500: the SDKs can only read the vendor's error body.
                log.exception("%s %s failed", request.method, request.url.path)
                error = InternalError("An internal error occurred; the request may be retried")
                return flavor.error_response(error, request.url.path)

        return endpoint


def _raise_all(parsed: Any) -> None:
    """Raise the first problem, carrying every problem for dialects that list them all."""
    if parsed.errors:
        first = parsed.errors[0]
        first.all_errors = list(parsed.errors)
        raise first


# Calls


async def create_call(request: Request, flavor: Flavor, account: Account) -> Response:
    parsed = parse_form(await read_form(request), schemas.create_call(flavor))
    try:
        command = commands.create_call(parsed, flavor)
    except InvalidParameter:
        _raise_all(parsed)
        raise
    call = await services(request).calls.create(account.id, command)
    # twilio 6.54 (SignalWire's SDK) takes any 2xx with a body.
    return JSONResponse(flavor.call_json(call, flavor), status_code=flavor.create_call_status)


async def fetch_call(request: Request, flavor: Flavor, account: Account) -> Response:
    call_id = flavor.parse_call(request.path_params["sid"])
    call = None if call_id is None else await services(request).calls.get(account.id, call_id)
    if call is None:
        raise _not_found(request)
    return JSONResponse(flavor.call_json(call, flavor))


async def update_call(request: Request, flavor: Flavor, account: Account) -> Response:
    parsed = parse_form(await read_form(request), schemas.update_call(flavor))
    call_id = flavor.parse_call(request.path_params["sid"])
    if call_id is None:
        raise _not_found(request)
    try:
        command = commands.update_call(parsed, flavor)
    except InvalidParameter:
        _raise_all(parsed)
        raise
    call = await services(request).calls.update(account.id, call_id, command)
    if call is None:
        raise _not_found(request)
    return JSONResponse(flavor.call_json(call, flavor))


async def delete_call(request: Request, flavor: Flavor, account: Account) -> Response:
    call_id = flavor.parse_call(request.path_params["sid"])
    if call_id is None or not await services(request).calls.delete(account.id, call_id):
        raise _not_found(request)
    return Response(status_code=204)


async def list_calls(request: Request, flavor: Flavor, account: Account) -> Response:
    parsed = parse_form(query_form(request), schemas.list_calls(flavor))
    page = PageRequest.from_parsed(parsed)
    flt = commands.call_filter(parsed, flavor)
    rows = await services(request).calls.search(account.id, flt, page.window)
    return _page_response(request, page, "calls", rows, lambda c: flavor.call_json(c, flavor))


def _page_response(
    request: Request, page: PageRequest, key: str, rows: list[Any], render: Callable[[Any], dict[str, Any]]
) -> Response:
    shown, next_token, previous_token = page.split(rows)
    return JSONResponse(
        page_body(
            key,
            [render(row) for row in shown],
            path=page_path(request),
            filters=paging_filters(request),
            page=page.number,
            page_size=page.size,
            token=page.token,
            next_token=next_token,
            previous_token=previous_token,
        )
    )


# Applications


def _application_fields(parsed: Any) -> dict[str, Any]:
    _raise_all(parsed)
    return {k: v for k, v in parsed.values.items() if k in APPLICATION_FIELDS}


async def create_application(request: Request, flavor: Flavor, account: Account) -> Response:
    parsed = parse_form(await read_form(request), schemas.APPLICATION_WRITE)
    app = await services(request).applications.create(account.id, _application_fields(parsed))
    return JSONResponse(flavor.application_json(app, flavor), status_code=201)


async def fetch_application(request: Request, flavor: Flavor, account: Account) -> Response:
    app_id = flavor.parse_application(request.path_params["sid"])
    app = None if app_id is None else await services(request).applications.get(account.id, app_id)
    if app is None:
        raise _not_found(request)
    return JSONResponse(flavor.application_json(app, flavor))


async def update_application(request: Request, flavor: Flavor, account: Account) -> Response:
    parsed = parse_form(await read_form(request), schemas.APPLICATION_WRITE)
    app_id = flavor.parse_application(request.path_params["sid"])
    if app_id is None:
        raise _not_found(request)
    app = await services(request).applications.update(account.id, app_id, _application_fields(parsed))
    if app is None:
        raise _not_found(request)
    return JSONResponse(flavor.application_json(app, flavor))


async def delete_application(request: Request, flavor: Flavor, account: Account) -> Response:
    app_id = flavor.parse_application(request.path_params["sid"])
    if app_id is None or not await services(request).applications.delete(account.id, app_id):
        raise _not_found(request)
    return Response(status_code=204)


async def list_applications(request: Request, flavor: Flavor, account: Account) -> Response:
    parsed = parse_form(query_form(request), schemas.LIST_APPLICATIONS)
    page = PageRequest.from_parsed(parsed)
    name = parsed.values.get("friendly_name")
    rows = await services(request).applications.search(account.id, name, page.window)
    return _page_response(request, page, "applications", rows, lambda a: flavor.application_json(a, flavor))
