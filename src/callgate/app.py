"""The composition root: the one place that wires store, services, dialects and the web app."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from callgate.config import Settings
from callgate.core.errors import ApiError, MethodNotAllowed, NotFound
from callgate.core.pricing import RateTable
from callgate.dialects.openapi import openapi_document
from callgate.dialects.registration import AnyHot, Dialect, HotRoutes, owner
from callgate.dialects.responses import JSONResponse
from callgate.dialects.twilio.registration import COMPAT
from callgate.engine.faces import Face
from callgate.engine.services import Services
from callgate.engine.shared import Engine
from callgate.engine.worker import Worker
from callgate.store import SqlStore
from callgate.store.base import Outgoing, Store
from callgate.webhooks.outbox import Dispatcher
from callgate.webhooks.retry import RetrySchedule

#: every dialect this server speaks; the first answers for paths no dialect claims
DIALECTS: tuple[Dialect, ...] = (COMPAT,)


@dataclass
class RunningEngine:
    """The worker and the dispatcher of one process, and what they hold open."""

    engine: Engine
    worker: Worker
    dispatcher: Dispatcher

    async def stop(self) -> None:
        await self.worker.stop()
        await self.dispatcher.stop()
        self.engine.dialer.close()
        await self.engine.http.close()
        await self.engine.audio.close()


async def start_engine(
    settings: Settings, services: Services, faces: dict[str, Face], sandbox: tuple[str, int] | None
) -> RunningEngine:
    from callgate.config import split_host_port
    from callgate.engine.clock import utcnow
    from callgate.telephony.aio.clock import MediaClock
    from callgate.telephony.aio.dialer import Dialer
    from callgate.telephony.aio.fetch import AudioFetcher
    from callgate.telephony.aio.tts import speaker
    from callgate.webhooks.client import WebhookClient
    from callgate.webhooks.ssrf import GuardedTransport, HostGuard

    store = services.store
    host, port = split_host_port(settings.sip, 0)
    if sandbox is None:  # the sandbox runs elsewhere (another process on this machine, say)
        sandbox = split_host_port(settings.sandbox_sip or "127.0.0.1:5080", 5080)
    dialer = await Dialer.open(host, port, trunks=settings.sip_trunks(), sandbox=sandbox)
    guard = HostGuard(
        allow_loopback=settings.webhook_allow_loopback,
        allow_private=settings.webhook_allow_private,
        allowed_hosts=settings.webhook_allowed_hosts,
    )
    http = WebhookClient(guard=guard)
    media_host = settings.media_host or (host if host not in ("0.0.0.0", "::", "") else "127.0.0.1")
    engine = Engine(
        store,
        services.calls,
        faces,
        dialer,
        http,
        speaker(library=settings.speech == "library"),
        AudioFetcher(transport=GuardedTransport(guard)),
        recordings=services.recordings,
        recordings_dir=Path(settings.recordings),
        media_host=media_host,
        media_shared=settings.media_ports == "shared",
        media_clock=MediaClock(),
        accounts=services.accounts,
    )

    async def sign(item: Outgoing) -> Any:
        account = await services.accounts.get(item.account_id)
        if account is None:
            return lambda _url, _params: {}
        face = faces.get(item.dialect) or next(iter(faces.values()))
        return lambda url, params: face.sign(account, url, params)

    dispatcher = Dispatcher(
        store,
        http,
        sign,
        clock=utcnow,
        schedule=RetrySchedule(
            waits_s=tuple(settings.webhook_retry_s or [1.0]),
            max_wait_s=settings.webhook_retry_max_s,
            horizon_s=settings.webhook_retry_horizon_s,
            max_deliveries=settings.webhook_deliveries,
        ),
        lease_s=settings.lease_s,
    )
    # The callbacks of a call's events go to this dispatcher as they are committed, held by it.
    services.calls.outbox = dispatcher.take
    services.calls.outbox_lease_s = settings.lease_s
    engine.wake_outbox = dispatcher.wake
    worker = Worker(engine, cps=settings.calls_per_second, lease_s=settings.lease_s)
    await dispatcher.start()
    await worker.start()
    return RunningEngine(engine, worker, dispatcher)


def faces_for(settings: Settings, dialects: tuple[Dialect, ...] = DIALECTS) -> dict[str, Face]:
    """The engine's view of each dialect, by the name a call's options carry."""
    return {name: face for dialect in dialects for name, face in dialect.faces(settings.base_url).items()}


def create_app(
    settings: Settings,
    store: Store | None = None,
    *,
    engine: bool = False,
    sandbox: tuple[str, int] | None = None,
) -> Starlette:
    """The HTTP application. It opens (and migrates) the store on startup unless one is handed in open.

    With `engine`, the process also runs calls (the worker) and delivers callbacks (the outbox
    dispatcher); numbers without a trunk go to the sandbox at `sandbox`.
    """
    owned = store is None
    the_store: Store = store if store is not None else SqlStore(settings.db)
    document = openapi_document(DIALECTS)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if owned:
            await the_store.open()
        faces = faces_for(settings)
        services = app.state.services = Services.over(
            the_store, faces, RateTable(settings.rates), settings.sip_trunks()
        )
        app.state.recordings = services.recordings
        running = await start_engine(settings, services, faces, sandbox) if engine else None
        app.state.engine = running
        try:
            yield
        finally:
            if running is not None:
                await running.stop()
            if owned:
                await the_store.close()

    async def openapi(_request: Request) -> Response:
        return JSONResponse(document)

    async def health(_request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def not_found(request: Request, exc: Any) -> Response:
        # Paths no route knows, in the body shape of the face the path belongs to.
        status = getattr(exc, "status_code", 404)
        path = request.url.path
        error: ApiError
        if status == 405:
            # Starlette's router names the route's methods in the exception's Allow header.
            allow = (getattr(exc, "headers", None) or {}).get("Allow", "")
            error = MethodNotAllowed(
                f"The HTTP method {request.method} is not allowed on {path}",
                allow=[m.strip() for m in allow.split(",") if m.strip()],
            )
        else:
            error = NotFound(f"The requested resource {path} was not found")
        return owner(DIALECTS, path).error_response(error, path)

    own = [(dialect, dialect.routes(settings)) for dialect in DIALECTS]
    routes = [
        # Most traffic first: Starlette tries routes in order.
        *(route for _, theirs in own for route in theirs),
        Route("/openapi.json", openapi),
        Route("/healthz", health),
    ]
    app = CallgateApp(routes=routes, lifespan=lifespan, exception_handlers={HTTPException: not_found})
    hot = [dialect.hot(theirs) for dialect, theirs in own]
    app.fast = hot[0] if len(hot) == 1 else AnyHot(tuple(hot))
    app.state.settings = settings
    return app


class CallgateApp(Starlette):
    """Starlette, with the `hot` resources (the Calls list: create call) served straight from here.

    Their requests skip the middleware stack and the router, which cost as much as a quarter of a
    create-call's time on the event loop; nothing there concerns them: their dispatcher turns every
    exception into the vendor's error body itself, and no route before them could match their paths.
    `fast = AnyHot()` sends everything through the router (the plain twin).
    """

    fast: HotRoutes = AnyHot()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            found = self.fast.match(scope["path"])
            if found is not None:
                endpoint, scope["path_params"] = found
                scope["app"] = self
                response = await endpoint(Request(scope, receive, send))
                await response(scope, receive, send)
                return
        await super().__call__(scope, receive, send)
