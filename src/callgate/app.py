"""The composition root: the one place that wires store, services, dialects and the web app."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from callgate.config import Settings
from callgate.core.errors import ApiError, MethodNotAllowed, NotFound
from callgate.dialects.openapi import openapi_document
from callgate.dialects.responses import JSONResponse
from callgate.dialects.signalwire import SIGNALWIRE
from callgate.dialects.twilio.api import CompatApi
from callgate.dialects.twilio.face import TWILIO
from callgate.engine.services import Services
from callgate.store import SqlStore
from callgate.store.base import Store


def create_app(settings: Settings, store: Store | None = None) -> Starlette:
    """The HTTP application. It opens (and migrates) the store on startup unless one is handed in open."""
    owned = store is None
    the_store: Store = store if store is not None else SqlStore(settings.db)
    document = openapi_document()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if owned:
            await the_store.open()
        app.state.services = Services.over(the_store)
        try:
            yield
        finally:
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
            error = MethodNotAllowed(f"The HTTP method {request.method} is not allowed on {path}")
        else:
            error = NotFound(f"The requested resource {path} was not found")
        flavor = SIGNALWIRE if path.startswith("/api/laml/") else TWILIO
        return flavor.error_response(error, path)

    routes = [
        # Most traffic first: Starlette tries routes in order.
        *CompatApi("", (TWILIO, SIGNALWIRE)).routes(),
        *CompatApi("/api/laml", (SIGNALWIRE,)).routes(),
        Route("/openapi.json", openapi),
        Route("/healthz", health),
    ]
    app = Starlette(routes=routes, lifespan=lifespan, exception_handlers={HTTPException: not_found})
    app.state.settings = settings
    return app
