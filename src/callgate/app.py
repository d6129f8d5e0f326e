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
from callgate.dialects.responses import JSONResponse
from callgate.dialects.signalwire import SIGNALWIRE
from callgate.dialects.twilio.api import CompatApi
from callgate.dialects.twilio.engine_face import CompatFace
from callgate.dialects.twilio.events_api import event_routes
from callgate.dialects.twilio.face import TWILIO
from callgate.dialects.twilio.http import FastRoutes
from callgate.dialects.twilio.recordings_api import recording_routes
from callgate.engine.faces import Face
from callgate.engine.services import Services
from callgate.engine.shared import Engine
from callgate.engine.worker import Worker
from callgate.store import SqlStore
from callgate.store.base import Outgoing, Store
from callgate.webhooks.outbox import Dispatcher
from callgate.webhooks.retry import RetrySchedule


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
        face = faces.get(item.dialect, faces["twilio"])
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


def faces_for(settings: Settings) -> dict[str, Face]:
    """The engine's view of each dialect, by the name a call's options carry."""
    base = settings.base_url
    return {"twilio": CompatFace(TWILIO, base), "signalwire": CompatFace(SIGNALWIRE, base)}


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
    document = openapi_document()

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
        flavor = SIGNALWIRE if path.startswith("/api/laml/") else TWILIO
        return flavor.error_response(error, path)

    twilio_api, laml_api = CompatApi("", (TWILIO, SIGNALWIRE)), CompatApi("/api/laml", (SIGNALWIRE,))
    routes = [
        # Most traffic first: Starlette tries routes in order.
        *twilio_api.routes(),
        *laml_api.routes(),
        *recording_routes("", (TWILIO, SIGNALWIRE), media_auth=settings.recording_media_auth),
        *recording_routes("/api/laml", (SIGNALWIRE,), media_auth=settings.recording_media_auth),
        *event_routes("", (TWILIO, SIGNALWIRE)),
        Route("/openapi.json", openapi),
        Route("/healthz", health),
    ]
    app = CallgateApp(routes=routes, lifespan=lifespan, exception_handlers={HTTPException: not_found})
    app.fast = FastRoutes(routes)
    app.state.settings = settings
    return app


class CallgateApp(Starlette):
    """Starlette, with the `hot` resources (the Calls list: create call) served straight from here.

    Their requests skip the middleware stack and the router, which cost as much as a quarter of a
    create-call's time on the event loop; nothing there concerns them: their dispatcher turns every
    exception into the vendor's error body itself, and no route before them could match their paths.
    `fast = FastRoutes(())` sends everything through the router (the plain twin).
    """

    fast: FastRoutes = FastRoutes(())

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
