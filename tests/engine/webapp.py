"""A user's voice application for the end-to-end tests: a real HTTP server on loopback.

It serves TwiML built with the twilio SDK's `VoiceResponse` from per-test routes, checks the
signature of every request it receives with the SDK's `RequestValidator`, and records each request.
Tests wait on what it received (a condition variable), never on sleeps.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from twilio.request_validator import RequestValidator

from tests.conftest import free_port


@dataclass
class Hit:
    path: str
    method: str
    params: dict[str, str]
    signature_ok: bool
    headers: dict[str, str]
    at: float = field(default_factory=time.monotonic)


Handler = Callable[[Hit], Response | str]


class WebApp:
    """Routes are registered per test: `app.route("/voice", lambda hit: VoiceResponse()...)`."""

    def __init__(self) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.tokens: set[str] = set()
        self.hits: list[Hit] = []
        self._handlers: dict[str, Handler] = {}
        self._cond = threading.Condition()
        app = Starlette(routes=[Route("/{path:path}", self._handle, methods=["GET", "POST"])])
        self.server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off")
        )
        self.thread = threading.Thread(target=self._serve, daemon=True, name=f"webapp-{self.port}")

    def _serve(self) -> None:
        asyncio.run(self.server.serve())

    def start(self) -> WebApp:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            assert time.monotonic() < deadline, "the web app did not start"
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)

    def url(self, path: str) -> str:
        return self.base + path

    def route(self, path: str, handler: Handler | str) -> str:
        self._handlers[path] = handler if callable(handler) else (lambda _hit, text=handler: text)
        return self.url(path)

    async def _handle(self, request: Request) -> Response:
        path = "/" + request.path_params["path"]
        if request.method == "POST":
            body = (await request.body()).decode()
            params = dict(parse_qsl(body, keep_blank_values=True))
            signed_params: dict[str, str] = params
        else:
            params = dict(request.query_params)
            signed_params = {}
        signature = request.headers.get("x-twilio-signature", "")
        url = str(request.url)
        ok = any(RequestValidator(token).validate(url, signed_params, signature) for token in self.tokens)
        hit = Hit(path, request.method, params, ok, dict(request.headers))
        handler = self._handlers.get(path)
        with self._cond:
            self.hits.append(hit)
            self._cond.notify_all()
        if handler is None:
            return Response("", status_code=204)
        result = handler(hit)
        if isinstance(result, Response):
            return result
        return Response(result, media_type="application/xml")

    def wait_for(self, predicate: Callable[[list[Hit]], Any], timeout: float = 30.0) -> Any:
        """Wait until `predicate(hits)` is truthy; return its value."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                value = predicate(list(self.hits))
                if value:
                    return value
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"timed out; received: {[(h.method, h.path) for h in self.hits]}")
                self._cond.wait(left)

    def on(self, path: str) -> list[Hit]:
        return [h for h in self.hits if h.path == path]

    def wait_hits(self, path: str, count: int = 1, timeout: float = 30.0) -> list[Hit]:
        def enough(hits: list[Hit]) -> list[Hit] | None:
            found = [h for h in hits if h.path == path]
            return found if len(found) >= count else None

        return self.wait_for(enough, timeout)  # type: ignore[no-any-return]
