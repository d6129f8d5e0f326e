"""Helpers of the engine tests through the SignalWire face: a Callgate that runs calls, and a user's app.

`EngineServer` is `support.Server` with the worker on (the API-only suite keeps it off) and the engine's
SIP endpoint and the sandbox on loopback ports of their own. `VoiceApp` is the user's web application:
a threaded HTTP server on 127.0.0.1 that answers per-test routes with LaML, checks the signature of
every request with the SignalWire SDK's `RequestValidator`, and records each request. Tests wait on
what it received (a condition variable), never on sleeps. This virtual environment has neither
starlette nor uvicorn (of Callgate's `tests` package it imports only the standard-library
`tests.healthz`), so the app is built on `http.server`.
"""

from __future__ import annotations

import array
import io
import math
import os
import threading
import time
import wave
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from signalwire.request_validator import RequestValidator
from support import HOST, Server

WAIT_S = 60.0


class EngineServer(Server):
    """`callgate serve` with the worker on: queued calls are dialled on the sandbox and run."""

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in ("CALLGATE_DB", "CALLGATE_HTTP")}
        env.update(CALLGATE_WORKER="true", CALLGATE_SIP=f"{HOST}:0", CALLGATE_SANDBOX_SIP=f"{HOST}:0")
        return env


class PhoneBookServer(EngineServer):
    """The engine's server, its sandbox with scripted phones: the phone book `phones.toml` of its
    workdir (docs/SANDBOX.md)."""

    def env(self) -> dict[str, str]:
        return {**super().env(), "CALLGATE_SANDBOX_PHONES": str(self.workdir / "phones.toml")}


@dataclass(frozen=True)
class Reply:
    body: bytes | str = b""
    status: int = 200
    content_type: str = "application/xml"


@dataclass
class Hit:
    """One request the app received, and which of the app's keys (if any) its signature verifies with."""

    path: str
    method: str
    url: str
    params: dict[str, str]
    headers: dict[str, str]
    body: str
    media: bool
    verified_by: str | None
    at: float = field(default_factory=time.monotonic)

    @property
    def signature(self) -> str:
        return self.headers.get("x-signalwire-signature", "")


Handler = Callable[[Hit], Reply | str]


def verify(key: str, hit: Hit) -> bool:
    """The SDK's check, as a user's app makes it: the URL it was called on, the POST form (a GET has none)."""
    params = hit.params if hit.method == "POST" else {}
    return bool(RequestValidator(key).validate(hit.url, params, hit.signature))


class _RequestHandler(BaseHTTPRequestHandler):
    server: _AppServer
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self.server.app.receive(self)

    do_POST = do_GET

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the base class's name)
        pass


class _AppServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, app: VoiceApp) -> None:
        self.app = app
        super().__init__((HOST, 0), _RequestHandler)


class VoiceApp:
    """A user's voice application. `route(path, handler)` serves `handler(hit)` (LaML text or a Reply)
    at `path` and returns its URL; `media=True` marks audio files, which Callgate fetches unsigned."""

    def __init__(self, keys: set[str]) -> None:
        self.keys = keys
        self.hits: list[Hit] = []
        self._routes: dict[str, tuple[Handler, bool]] = {}
        self._cond = threading.Condition()
        self._http = _AppServer(self)
        self.port = int(self._http.server_address[1])
        self.base = f"http://{HOST}:{self.port}"
        self._thread = threading.Thread(target=self._http.serve_forever, daemon=True, name="voice-app")

    def __enter__(self) -> VoiceApp:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._http.shutdown()
        self._http.server_close()
        self._thread.join(timeout=10)

    def url(self, path: str) -> str:
        return self.base + path

    def route(self, path: str, handler: Handler | str, *, media: bool = False) -> str:
        self._routes[path] = (handler if callable(handler) else (lambda _hit: handler), media)
        return self.url(path)

    def receive(self, request: BaseHTTPRequestHandler) -> None:
        length = int(request.headers.get("Content-Length") or 0)
        body = request.rfile.read(length).decode() if length else ""
        split = urlsplit(request.path)
        form = body if request.command == "POST" else split.query
        handler, media = self._routes.get(split.path, (None, False))
        hit = Hit(
            path=split.path,
            method=request.command,
            url=f"http://{request.headers.get('Host', f'{HOST}:{self.port}')}{request.path}",
            params=dict(parse_qsl(form, keep_blank_values=True)),
            headers={name.lower(): value for name, value in request.headers.items()},
            body=body,
            media=media,
            verified_by=None,
        )
        hit.verified_by = next((key for key in self.keys if verify(key, hit)), None)
        reply = Reply(status=204) if handler is None else handler(hit)
        if isinstance(reply, str):
            reply = Reply(reply)
        data = reply.body.encode() if isinstance(reply.body, str) else reply.body
        with self._cond:
            self.hits.append(hit)
            self._cond.notify_all()
        request.send_response(reply.status)
        request.send_header("Content-Type", reply.content_type)
        request.send_header("Content-Length", str(len(data)))
        request.end_headers()
        request.wfile.write(data)

    def wait_for(self, predicate: Callable[[list[Hit]], Any], timeout: float = WAIT_S) -> Any:
        """Block until `predicate(hits)` is truthy and return its value."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not (value := predicate(list(self.hits))):
                left = deadline - time.monotonic()
                if left <= 0:
                    seen = [(h.method, h.path, h.params.get("CallStatus")) for h in self.hits]
                    raise AssertionError(f"timed out after {timeout} s; the app received {seen}")
                self._cond.wait(left)
            return value

    def calls_to(self, path: str, call_sid: str, hits: list[Hit] | None = None) -> list[Hit]:
        """The requests to `path` about one call, in the order they arrived."""
        with self._cond:
            seen = list(self.hits) if hits is None else hits
        return [h for h in seen if h.path == path and h.params.get("CallSid") == call_sid]

    def wait_call(self, path: str, call_sid: str, count: int = 1) -> list[Hit]:
        return self.wait_for(  # type: ignore[no-any-return]
            lambda hits: (found := self.calls_to(path, call_sid, hits))[count - 1 :] and found
        )

    def wait_final(self, path: str, call_sid: str) -> Hit:
        """The status callback of the `completed` event: the one that carries a final CallStatus."""
        finals = self.wait_for(
            lambda hits: [
                h
                for h in self.calls_to(path, call_sid, hits)
                if h.params.get("CallStatus") not in ("initiated", "ringing", "in-progress")
            ]
        )
        return finals[0]  # type: ignore[no-any-return]


def tone_wav(seconds: float = 0.5, freq_hz: float = 440.0, rate_hz: int = 8000) -> bytes:
    """A sine tone as a 16-bit mono WAV file."""
    samples = array.array(
        "h",
        (int(8000 * math.sin(2 * math.pi * freq_hz * n / rate_hz)) for n in range(int(rate_hz * seconds))),
    )
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate_hz)
        w.writeframes(samples.tobytes())
    return out.getvalue()
