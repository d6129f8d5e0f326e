"""The 2010-04-01 Calls and Applications routes, for every `Flavor` (Twilio, SignalWire).

Routes parse and validate, call one service, and render; they hold no SQL and no SIP.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import UUID

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from callgate.core.call import APPLICATION_FIELDS
from callgate.core.errors import InvalidParameter
from callgate.dialects.params import parse_form
from callgate.dialects.responses import JSONResponse
from callgate.dialects.twilio import commands, schemas
from callgate.dialects.twilio.flavor import Flavor
from callgate.dialects.twilio.http import (
    Dispatcher,
    Handler,
    PageRequest,
    ResourceRoute,
    flavor_for,
    not_found,
    page_path,
    paging_filters,
    query_form,
    read_form,
    services,
)
from callgate.dialects.twilio.render import page_body

_not_found = not_found  # the name the other resource modules import


class CompatApi:
    """The Calls and Applications routes under one prefix. `flavors` picks the face: with one flavor
    it is fixed, else the account id in the path decides (a Twilio `AC...` sid or a SignalWire UUID).
    The Calls list (create call) is `hot`: the app serves it past the router (`FastRoutes`)."""

    def __init__(self, prefix: str, flavors: tuple[Flavor, ...]) -> None:
        self.prefix = prefix
        self.flavors = flavors

    def flavor_for(self, account_ref: str) -> tuple[Flavor, UUID | None]:
        """The face the path's account id belongs to, and that id parsed (None if it is no id)."""
        return flavor_for(self.flavors, account_ref)

    def routes(self) -> list[BaseRoute]:
        base = f"{self.prefix}/2010-04-01/Accounts/{{account}}"
        table: list[tuple[str, dict[str, Handler], bool]] = [
            ("/Calls", {"GET": list_calls, "POST": create_call}, True),
            ("/Calls/{sid}", {"GET": fetch_call, "POST": update_call, "DELETE": delete_call}, False),
            ("/Applications", {"GET": list_applications, "POST": create_application}, False),
            (
                "/Applications/{sid}",
                {"GET": fetch_application, "POST": update_application, "DELETE": delete_application},
                False,
            ),
        ]
        dispatchers = {path: Dispatcher(self.flavors, handlers) for path, handlers, _ in table}
        # `.json` first: `{sid}` would otherwise swallow the suffix.
        return [
            ResourceRoute(base + path + suffix, dispatchers[path], hot=hot)
            for suffix in (".json", "")
            for path, _, hot in table
        ]


def _raise_all(parsed: Any) -> None:
    """Raise the first problem, carrying every problem for dialects that list them all."""
    if parsed.errors:
        first = parsed.errors[0]
        first.all_errors = list(parsed.errors)
        raise first


# Calls


async def create_call(request: Request, flavor: Flavor, account_id: UUID) -> Response:
    parsed = parse_form(await read_form(request), schemas.create_call(flavor))
    try:
        command = commands.create_call(parsed, flavor)
    except InvalidParameter:
        _raise_all(parsed)
        raise
    call = await services(request).calls.create(account_id, command)
    # twilio 6.54 (SignalWire's SDK) takes any 2xx with a body.
    return JSONResponse(flavor.call_json(call, flavor), status_code=flavor.create_call_status)


async def fetch_call(request: Request, flavor: Flavor, account_id: UUID) -> Response:
    call_id = flavor.parse_call(request.path_params["sid"])
    call = None if call_id is None else await services(request).calls.get(account_id, call_id)
    if call is None:
        raise _not_found(request)
    return JSONResponse(flavor.call_json(call, flavor))


async def update_call(request: Request, flavor: Flavor, account_id: UUID) -> Response:
    parsed = parse_form(await read_form(request), schemas.update_call(flavor))
    call_id = flavor.parse_call(request.path_params["sid"])
    if call_id is None:
        raise _not_found(request)
    try:
        command = commands.update_call(parsed, flavor)
    except InvalidParameter:
        _raise_all(parsed)
        raise
    call = await services(request).calls.update(account_id, call_id, command)
    if call is None:
        raise _not_found(request)
    return JSONResponse(flavor.call_json(call, flavor))


async def delete_call(request: Request, flavor: Flavor, account_id: UUID) -> Response:
    call_id = flavor.parse_call(request.path_params["sid"])
    if call_id is None or not await services(request).calls.delete(account_id, call_id):
        raise _not_found(request)
    return Response(status_code=204)


async def list_calls(request: Request, flavor: Flavor, account_id: UUID) -> Response:
    parsed = parse_form(query_form(request), schemas.list_calls(flavor))
    page = PageRequest.from_parsed(parsed)
    flt = commands.call_filter(parsed, flavor)
    rows = await services(request).calls.search(account_id, flt, page.window)
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


async def create_application(request: Request, flavor: Flavor, account_id: UUID) -> Response:
    parsed = parse_form(await read_form(request), schemas.APPLICATION_WRITE)
    app = await services(request).applications.create(account_id, _application_fields(parsed))
    return JSONResponse(flavor.application_json(app, flavor), status_code=201)


async def fetch_application(request: Request, flavor: Flavor, account_id: UUID) -> Response:
    app_id = flavor.parse_application(request.path_params["sid"])
    app = None if app_id is None else await services(request).applications.get(account_id, app_id)
    if app is None:
        raise _not_found(request)
    return JSONResponse(flavor.application_json(app, flavor))


async def update_application(request: Request, flavor: Flavor, account_id: UUID) -> Response:
    parsed = parse_form(await read_form(request), schemas.APPLICATION_WRITE)
    app_id = flavor.parse_application(request.path_params["sid"])
    if app_id is None:
        raise _not_found(request)
    app = await services(request).applications.update(account_id, app_id, _application_fields(parsed))
    if app is None:
        raise _not_found(request)
    return JSONResponse(flavor.application_json(app, flavor))


async def delete_application(request: Request, flavor: Flavor, account_id: UUID) -> Response:
    app_id = flavor.parse_application(request.path_params["sid"])
    if app_id is None or not await services(request).applications.delete(account_id, app_id):
        raise _not_found(request)
    return Response(status_code=204)


async def list_applications(request: Request, flavor: Flavor, account_id: UUID) -> Response:
    parsed = parse_form(query_form(request), schemas.LIST_APPLICATIONS)
    page = PageRequest.from_parsed(parsed)
    name = parsed.values.get("friendly_name")
    rows = await services(request).applications.search(account_id, name, page.window)
    return _page_response(request, page, "applications", rows, lambda a: flavor.application_json(a, flavor))
