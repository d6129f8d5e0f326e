"""The resource dispatcher and the fast routes in process: one Starlette app over ASGI, no socket.

The resources are small handlers that echo what they were given; the accounts a table. What the
dispatcher does for every resource (the face, credentials, 405, error bodies) is asserted once here.
"""

from __future__ import annotations

import base64
from types import SimpleNamespace
from uuid import UUID

import httpx
import pytest
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request
from starlette.responses import Response

from callgate.app import CallgateApp, create_app
from callgate.config import Settings
from callgate.core.call import Account
from callgate.core.errors import InvalidCallState
from callgate.dialects.responses import JSONResponse
from callgate.dialects.signalwire import SIGNALWIRE
from callgate.dialects.twilio.face import TWILIO
from callgate.dialects.twilio.flavor import Flavor
from callgate.dialects.twilio.http import Dispatcher, FastRoutes, Handler, ResourceRoute
from callgate.engine.accounts import new_account

pytestmark = pytest.mark.anyio

BASE = "/2010-04-01/Accounts/{account}"


async def echo(request: Request, flavor: Flavor, account_id: UUID) -> Response:
    body = {"flavor": flavor.name, "account": str(account_id), "params": dict(request.path_params)}
    return JSONResponse(body, status_code=201 if request.method == "POST" else 200)


async def refuses(request: Request, flavor: Flavor, account_id: UUID) -> Response:
    raise InvalidCallState("Call is not in-progress. Cannot redirect.")


async def breaks(request: Request, flavor: Flavor, account_id: UUID) -> Response:
    raise RuntimeError("a fault of ours")


class Accounts:
    def __init__(self, *accounts: Account) -> None:
        self.by_id = {a.id: a for a in accounts}

    async def get(self, account_id: UUID) -> Account | None:
        return self.by_id.get(account_id)


class Marked(BaseHTTPMiddleware):
    """Marks every response that went through the middleware stack."""

    async def dispatch(self, request: Request, call_next):  # type: ignore[no-untyped-def]
        response = await call_next(request)
        response.headers["x-via-router"] = "yes"
        return response


FLAVORS = (TWILIO, SIGNALWIRE)


def routes(*, hot: bool = True) -> list[ResourceRoute]:
    calls: dict[str, Handler] = {"GET": echo, "POST": echo}
    return [
        ResourceRoute(BASE + "/Calls.json", Dispatcher(FLAVORS, calls), hot=hot),
        ResourceRoute(BASE + "/Calls/{sid}.json", Dispatcher(FLAVORS, {"GET": echo, "POST": refuses})),
        ResourceRoute(BASE + "/Broken.json", Dispatcher(FLAVORS, {"GET": breaks})),
        ResourceRoute(BASE + "/Public/{sid}", Dispatcher(FLAVORS, {"GET": echo}, public=True)),
        ResourceRoute(
            BASE + "/TwilioOnly.json", Dispatcher(FLAVORS, {"GET": echo}, serves=lambda f: f is TWILIO)
        ),
    ]


@pytest.fixture
def account() -> Account:
    return new_account("dispatch")


def app_for(account: Account, *, fast: bool) -> CallgateApp:
    table = routes()
    app = CallgateApp(routes=table, middleware=[Middleware(Marked)])
    app.fast = FastRoutes(table if fast else ())
    app.state.services = SimpleNamespace(accounts=Accounts(account))
    return app


def basic(user: str, password: str) -> dict[str, str]:
    return {"authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


async def get(
    app: CallgateApp, method: str, path: str, headers: dict[str, str] | None = None
) -> httpx.Response:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://callgate"
    ) as client:
        return await client.request(method, path, headers=headers)


@pytest.mark.parametrize("fast", [True, False], ids=["fast", "router"])
async def test_each_face_reaches_the_handler_with_its_authenticated_account(account, fast):
    app = app_for(account, fast=fast)
    sid = TWILIO.render_account(account.id)
    answer = await get(app, "POST", f"/2010-04-01/Accounts/{sid}/Calls.json", basic(sid, account.auth_token))
    assert (answer.status_code, answer.json()) == (
        201,
        {"flavor": "twilio", "account": str(account.id), "params": {"account": sid}},
    )
    project = SIGNALWIRE.render_account(account.id)
    headers = basic(project, account.signalwire_token)
    answer = await get(app, "GET", f"/2010-04-01/Accounts/{project}/Calls/CA1.json", headers)
    assert answer.json()["flavor"] == "signalwire" and answer.json()["params"]["sid"] == "CA1"


@pytest.mark.parametrize("fast", [True, False], ids=["fast", "router"])
async def test_credentials_methods_and_failures_come_in_the_faces_error_body(account, fast):
    app = app_for(account, fast=fast)
    sid = TWILIO.render_account(account.id)
    calls = f"/2010-04-01/Accounts/{sid}/Calls.json"
    missing = await get(app, "POST", calls)
    assert (missing.status_code, missing.json()["code"]) == (401, 20003)
    wrong = await get(app, "POST", calls, basic(sid, "not-the-token"))
    assert (wrong.status_code, wrong.json()["code"]) == (401, 20003)
    good = basic(sid, account.auth_token)
    refused = await get(app, "DELETE", calls, good)
    assert (refused.status_code, refused.json()["code"], refused.headers["allow"]) == (
        405,
        20004,
        "GET, POST",
    )
    state = await get(app, "POST", f"/2010-04-01/Accounts/{sid}/Calls/CA1.json", good)
    assert (state.status_code, state.json()["code"]) == (400, 21220)
    assert state.json()["message"] == "Call is not in-progress. Cannot redirect."
    broken = await get(app, "GET", f"/2010-04-01/Accounts/{sid}/Broken.json", good)
    assert (broken.status_code, broken.json()["code"]) == (500, 20500)


async def test_a_public_resource_takes_no_credentials_but_a_well_formed_account(account):
    app = app_for(account, fast=True)
    sid = TWILIO.render_account(account.id)
    answer = await get(app, "GET", f"/2010-04-01/Accounts/{sid}/Public/RE1")
    assert (answer.status_code, answer.json()["account"]) == (200, str(account.id))
    malformed = await get(app, "GET", "/2010-04-01/Accounts/nobody/Public/RE1")
    assert (malformed.status_code, malformed.json()["code"]) == (404, 20404)
    assert (
        malformed.json()["message"]
        == "The requested resource /2010-04-01/Accounts/nobody/Public/RE1 was not found"
    )


async def test_a_resource_a_face_does_not_have_is_404_before_credentials(account):
    app = app_for(account, fast=True)
    project = SIGNALWIRE.render_account(account.id)
    answer = await get(app, "GET", f"/2010-04-01/Accounts/{project}/TwilioOnly.json")
    assert answer.status_code == 404
    sid = TWILIO.render_account(account.id)
    answer = await get(
        app, "GET", f"/2010-04-01/Accounts/{sid}/TwilioOnly.json", basic(sid, account.auth_token)
    )
    assert answer.status_code == 200


async def test_only_hot_routes_skip_the_middleware_and_the_router(account):
    sid = TWILIO.render_account(account.id)
    good = basic(sid, account.auth_token)
    fast, plain = app_for(account, fast=True), app_for(account, fast=False)
    hot = f"/2010-04-01/Accounts/{sid}/Calls.json"
    via_fast, via_router = await get(fast, "GET", hot, good), await get(plain, "GET", hot, good)
    assert via_fast.json() == via_router.json()
    assert "x-via-router" not in via_fast.headers and via_router.headers["x-via-router"] == "yes"
    cold = await get(fast, "GET", f"/2010-04-01/Accounts/{sid}/Calls/CA1.json", good)
    assert cold.headers["x-via-router"] == "yes"


def test_fast_routes_match_whole_paths_of_hot_routes_only():
    table = routes()
    fast = FastRoutes(table)
    assert len(fast) == 1
    found = fast.match("/2010-04-01/Accounts/AC1/Calls.json")
    assert found is not None
    endpoint, params = found
    assert params == {"account": "AC1"}
    assert endpoint == table[0].dispatcher.dispatch  # type: ignore[union-attr]
    for path in ("/2010-04-01/Accounts/AC1/Calls.json\n", "/2010-04-01/Accounts/AC1/Calls/CA1.json", "/x"):
        assert fast.match(path) is None
    assert len(FastRoutes(routes(hot=False))) == 0


def test_the_app_serves_the_calls_lists_fast_and_nothing_else():
    app = create_app(Settings(), store=object())  # type: ignore[arg-type]  # routes only: never opened
    paths = [
        "/2010-04-01/Accounts/AC1/Calls.json",
        "/2010-04-01/Accounts/AC1/Calls",
        "/api/laml/2010-04-01/Accounts/p1/Calls.json",
        "/api/laml/2010-04-01/Accounts/p1/Calls",
    ]
    assert len(app.fast) == 4 and all(app.fast.match(path) is not None for path in paths)
    for cold in ("/2010-04-01/Accounts/AC1/Calls/CA1.json", "/2010-04-01/Accounts/AC1/Applications.json"):
        assert app.fast.match(cold) is None
