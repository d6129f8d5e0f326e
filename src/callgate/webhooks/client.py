"""The webhook client: sends webhooks the way Twilio does through a `Transport` (by default the guarded
pool of kept-alive connections, `transport.Http11Transport`), and logs them.

`WebhookClient.send(WebhookRequest)` takes the configured URL (connection overrides in its fragment),
the method and the form parameters, and returns a `Delivery` with every attempt made:

- GET carries the parameters in the query string (after any query the URL already has), POST in an
  `application/x-www-form-urlencoded` body. The signing hook `headers_for(url, params)` is called with
  the exact URL that goes on the wire (no fragment) and the POST parameters (none for a GET), so the
  signature verifies against what the receiver sees. User-Agent is Twilio's, "TwilioProxy/1.1".
- Timeouts and retries follow the overrides (defaults ct=5000, rt=15000, tt=15000 ms, rc=1, rp=ct):
  a failure of a kind named in rp ("ct" connect failure or timeout, "rt" read timeout, "4xx", "5xx")
  is retried at once, up to rc times, all within tt.
- Redirects (301, 302, 303, 307, 308) are followed up to `max_redirects` hops, each hop checked,
  signed and logged as an attempt of its own; 303, and 301/302 after a POST, continue as a GET
  without a body (RFC 9110 15.4), 307/308 repeat the method and body.
- The transport carries each exchange: the real one (`Http11Transport`) passes every destination
  through the `HostGuard` before anything is sent and connects only to addresses the guard has
  approved (see ssrf.py); a test hands in a `MockTransport` and needs no socket.
- The response body is read up to `max_body` bytes (64 KB, Twilio's TwiML limit, by default); more is
  error 11750 and the rest is never read. Each attempt logs the first 1024 bytes.

Failures carry Twilio's debugger codes (docs "Error and Warning Dictionary"), see `ErrorCode`.
"""

from __future__ import annotations

import asyncio
import codecs
import ssl
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import IntEnum
from functools import lru_cache, partial
from types import TracebackType
from typing import Any

import httpx

from callgate.webhooks.form import encode_form
from callgate.webhooks.overrides import Overrides, OverrideWarning, WebhookUrl
from callgate.webhooks.ssrf import BlockedDestination, HostGuard, UnresolvableHost
from callgate.webhooks.transport import Http11Transport, Request, Response, Transport

USER_AGENT = "TwilioProxy/1.1"
MAX_DOCUMENT_BYTES = 64 * 1024  # Twilio error 11750: "the response body is larger than 64 kB"
LOGGED_BODY_BYTES = 1024
MAX_REDIRECTS = 10  # Twilio follows redirects (it has error 11215) but does not publish its limit
REDIRECTS = frozenset({301, 302, 303, 307, 308})

#: the signing hook: (the URL as sent, the POST parameters) -> headers to add
HeadersHook = Callable[[str, list[tuple[str, str]]], Mapping[str, str]]


class ErrorCode(IntEnum):
    """Twilio's debugger codes for webhook failures."""

    INVALID_URL = 11100
    RETRIEVAL_FAILURE = 11200  # also a 4xx or 5xx answer, as Programmable Voice reports it
    TCP_TIMEOUT = 11201
    TCP_REFUSED = 11202
    TOTAL_TIMEOUT = 11203  # the tt override ran out
    CONNECTION_FAILURE = 11205  # also a read timeout, and a destination refused by the SSRF guard
    PROTOCOL_VIOLATION = 11206
    BAD_HOST_NAME = 11210
    TOO_MANY_REDIRECTS = 11215
    INVALID_REDIRECT = 11216
    TLS_HANDSHAKE = 11220
    CERTIFICATE_DOMAIN_MISMATCH = 11235
    CERTIFICATE_EXPIRED = 11236
    CERTIFICATE_UNTRUSTED = 11237  # "could not find path to certificate"
    BODY_TOO_LARGE = 11750


@dataclass(frozen=True, slots=True)
class WebhookRequest:
    """One webhook to deliver. `url` may carry connection overrides in its fragment.

    `headers_for` signs: a mapping of fixed headers, or a hook called with the URL as sent and the
    POST parameters (empty for a GET) for every attempt and redirect hop. `max_body` caps the response
    body read (None: the body is not wanted, only its first 1024 bytes are read for the log).
    """

    url: str
    method: str = "POST"
    params: Sequence[tuple[str, str]] = ()
    headers_for: HeadersHook | Mapping[str, str] | None = None
    max_body: int | None = MAX_DOCUMENT_BYTES


@dataclass(frozen=True, slots=True)
class Attempt:
    """One HTTP exchange (a try, or a redirect hop of a try) as it happened."""

    url: str
    method: str
    request_headers: Mapping[str, str]
    request_body: str
    started_at: float  # wall clock, seconds since the epoch
    elapsed_ms: int
    status: int | None
    response_headers: Mapping[str, str]
    response_body: str  # the first 1024 bytes, decoded
    error: str | None
    error_code: int | None
    retry: int = 0  # 0 for the first try, n for the n-th retry
    redirect: int = 0  # hop number within the try


@dataclass(frozen=True, slots=True)
class Delivery:
    """The outcome of a webhook: every attempt, and the final response's body (up to max_body)."""

    attempts: tuple[Attempt, ...]
    ok: bool
    final: Attempt
    body: bytes = b""
    content_type: str | None = None
    overrides: Overrides = field(default_factory=Overrides)
    warnings: tuple[OverrideWarning, ...] = ()

    @property
    def text(self) -> str:
        return _decode(self.body, self.content_type)


@dataclass(slots=True)
class _Exchange:
    attempt: Attempt
    body: bytes = b""
    content_type: str | None = None
    ok: bool = False
    failure: str | None = None  # the retry-policy kind of the failure, if it may be retried
    location: str | None = None  # where a followed redirect points
    status: int | None = None


class WebhookClient:
    """Sends webhooks through `transport`; without one, through the guarded pool of kept-alive
    connections (`Http11Transport(guard, verify=verify)`; `guard` and `verify` are for it alone)."""

    def __init__(
        self,
        *,
        transport: Transport | None = None,
        guard: HostGuard | None = None,
        user_agent: str = USER_AGENT,
        max_redirects: int = MAX_REDIRECTS,
        clock: Callable[[], float] = time.time,
        verify: ssl.SSLContext | str | bool = True,
    ) -> None:
        if transport is not None and guard is not None:
            raise ValueError("a transport given brings its own guard")
        self.transport: Transport = transport or Http11Transport(guard, verify=verify)
        self.user_agent = user_agent
        self.max_redirects = max_redirects
        self._clock = clock

    async def close(self) -> None:
        """Close the transport (the kept-alive connections)."""
        await self.transport.aclose()

    async def __aenter__(self) -> WebhookClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def send(self, request: WebhookRequest) -> Delivery:
        """Deliver one webhook: every try and redirect hop, until success, a final failure or tt."""
        method = request.method.upper()
        if method not in ("GET", "POST"):
            raise ValueError(f"webhooks are sent with GET or POST, not {request.method!r}")
        target = WebhookUrl.parse(request.url)
        overrides = target.overrides
        loop = asyncio.get_running_loop()
        deadline = loop.time() + overrides.total_timeout_ms / 1000
        attempts: list[Attempt] = []
        retry = 0
        while True:
            outcome = await self._try(request, method, target.url, overrides, deadline, retry, attempts)
            if (
                outcome.failure is None
                or retry >= overrides.retry_count
                or not overrides.retries_on(outcome.failure)
                or loop.time() >= deadline
            ):
                break
            retry += 1
        return Delivery(
            attempts=tuple(attempts),
            ok=outcome.ok,
            final=attempts[-1],
            body=outcome.body,
            content_type=outcome.content_type,
            overrides=overrides,
            warnings=target.warnings,
        )

    async def _try(
        self,
        request: WebhookRequest,
        method: str,
        url: str,
        overrides: Overrides,
        deadline: float,
        retry: int,
        attempts: list[Attempt],
    ) -> _Exchange:
        """One try: the request, then the redirects it leads to."""
        params: Sequence[tuple[str, str]] = request.params
        if method == "GET" and params:
            base, _, query = url.partition("?")
            encoded = encode_form(params)
            url = f"{base}?{query}&{encoded}" if query else f"{base}?{encoded}"
            params = ()
        hop = 0
        while True:
            exchange = await self._exchange(request, method, url, params, overrides, deadline, retry, hop)
            attempts.append(exchange.attempt)
            if exchange.location is None:
                return exchange
            if exchange.status == 303 or (exchange.status in (301, 302) and method == "POST"):
                method, params = "GET", ()
            url, hop = exchange.location, hop + 1

    async def _exchange(
        self,
        request: WebhookRequest,
        method: str,
        url: str,
        params: Sequence[tuple[str, str]],
        overrides: Overrides,
        deadline: float,
        retry: int,
        hop: int,
    ) -> _Exchange:
        """One HTTP exchange, logged as an `Attempt`; failures are returned, never raised."""
        loop = asyncio.get_running_loop()
        started_at, started = self._clock(), loop.time()
        body = encode_form(params) if method == "POST" else ""
        headers: dict[str, str] = {}

        def attempt(**outcome: Any) -> Attempt:
            empty = Attempt(url, method, headers, body, started_at, 0, None, {}, "", None, None, retry, hop)
            return replace(empty, elapsed_ms=round((loop.time() - started) * 1000), **outcome)

        try:
            wire = _url(url)
            if wire.scheme not in ("http", "https") or not wire.host:
                raise httpx.InvalidURL(f"not an http(s) URL: {url!r}")
        except httpx.InvalidURL as exc:
            return _Exchange(attempt(error=str(exc), error_code=ErrorCode.INVALID_URL))
        url = str(wire)
        hook = request.headers_for
        signed = hook(url, list(params)) if callable(hook) else (hook or {})
        content = body.encode("ascii")
        sent: list[tuple[str, str]] = [
            ("Accept", "*/*"),
            ("Connection", "keep-alive"),
            ("User-Agent", self.user_agent),
        ]
        if method == "POST":
            sent += [
                ("Content-Type", "application/x-www-form-urlencoded"),
                ("Content-Length", str(len(content))),
            ]
        sent += signed.items()
        headers = {"host": wire.netloc.decode("ascii")} | {name.lower(): value for name, value in sent}
        limit = LOGGED_BODY_BYTES if request.max_body is None else request.max_body
        try:
            exchange = Request(
                method,
                wire,
                sent,
                content,
                connect_timeout=overrides.connect_timeout_ms / 1000,
                read_timeout=overrides.read_timeout_ms / 1000,
                limit=limit,
            )
            async with asyncio.timeout_at(deadline):
                response = await self.transport.handle(exchange)  # the guard refuses before sending
                data, overflow = response.body, response.overflow
        except TimeoutError:
            ran_out = f"total time of {overrides.total_timeout_ms} ms ran out"
            return _Exchange(attempt(error=ran_out, error_code=ErrorCode.TOTAL_TIMEOUT))
        except BlockedDestination as exc:
            return _Exchange(attempt(error=f"blocked: {exc.reason}", error_code=ErrorCode.CONNECTION_FAILURE))
        except UnresolvableHost as exc:
            return _Exchange(attempt(error=str(exc), error_code=ErrorCode.BAD_HOST_NAME))
        except httpx.HTTPError as exc:
            code, failure, message = _classify(exc)
            return _Exchange(attempt(error=message, error_code=code), failure=failure)
        content_type = response.headers.get("content-type")
        logged = partial(
            attempt,
            status=response.status,
            response_headers=response.headers,
            response_body=_decode(data[:LOGGED_BODY_BYTES], content_type),
        )
        if response.status in REDIRECTS:
            return self._redirect(wire, response, logged, hop < self.max_redirects)
        return _judge(response.status, logged, data, content_type, overflow, request.max_body)

    def _redirect(
        self, url: httpx.URL, response: Response, logged: Callable[..., Attempt], may: bool
    ) -> _Exchange:
        """A redirect to follow, or the reason it is not followed."""
        location = response.headers.get("location")
        try:
            target = url.join(location).copy_with(fragment=None) if location else None
        except httpx.InvalidURL:
            target = None
        if target is None or target.scheme not in ("http", "https"):
            invalid = f"HTTP {response.status} redirect to {location!r}"
            return _Exchange(logged(error=invalid, error_code=ErrorCode.INVALID_REDIRECT))
        if not may:
            too_many = f"more than {self.max_redirects} redirects"
            return _Exchange(logged(error=too_many, error_code=ErrorCode.TOO_MANY_REDIRECTS))
        return _Exchange(logged(), status=response.status, location=str(target))


@lru_cache(maxsize=1024)
def _url(text: str) -> httpx.URL:
    """A URL parsed (immutable, so shared): a call's webhooks go to the same few URLs again and again."""
    return httpx.URL(text)


def _judge(
    status: int,
    logged: Callable[..., Attempt],
    data: bytes,
    content_type: str | None,
    overflow: bool,
    max_body: int | None,
) -> _Exchange:
    """The outcome of a final (not redirected) response."""
    if 200 <= status < 300:
        if overflow and max_body is not None:
            too_large = f"response body larger than {max_body} bytes"
            attempt = logged(error=too_large, error_code=ErrorCode.BODY_TOO_LARGE)
            return _Exchange(attempt, data, content_type, status=status)
        return _Exchange(logged(), data, content_type, ok=True, status=status)
    failure = "4xx" if 400 <= status < 500 else "5xx" if 500 <= status < 600 else None
    attempt = logged(error=f"HTTP {status}", error_code=ErrorCode.RETRIEVAL_FAILURE)
    return _Exchange(attempt, data, content_type, failure=failure, status=status)


def _decode(data: bytes, content_type: str | None) -> str:
    charset = "utf-8"
    for part in (content_type or "").split(";")[1:]:
        name, _, value = part.strip().partition("=")
        if name.lower() == "charset" and value:
            charset = value.strip("\"'")
    try:
        codecs.lookup(charset)
    except LookupError:
        charset = "utf-8"
    return data.decode(charset, errors="replace")


def _causes(exc: BaseException) -> list[BaseException]:
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in chain and len(chain) < 16:
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


# OpenSSL verify codes (X509_V_ERR_*): 10 certificate has expired, 62 hostname and 64 IP address mismatch
_CERTIFICATE_CODES = {
    10: ErrorCode.CERTIFICATE_EXPIRED,
    62: ErrorCode.CERTIFICATE_DOMAIN_MISMATCH,
    64: ErrorCode.CERTIFICATE_DOMAIN_MISMATCH,
}


def _classify(exc: httpx.HTTPError) -> tuple[int, str | None, str]:
    """(Twilio error code, retry-policy kind or None when not retryable, message) of a transport error."""
    causes = _causes(exc)
    message = next((str(c) for c in reversed(causes) if str(c)), type(exc).__name__)
    if isinstance(exc, httpx.ConnectTimeout | httpx.PoolTimeout):
        return ErrorCode.TCP_TIMEOUT, "ct", f"connect timed out: {message}"
    if isinstance(exc, httpx.ReadTimeout | httpx.WriteTimeout):
        return ErrorCode.CONNECTION_FAILURE, "rt", f"read timed out: {message}"
    if isinstance(exc, httpx.ConnectError):
        for cause in causes:
            if isinstance(cause, ssl.SSLCertVerificationError):
                code = _CERTIFICATE_CODES.get(cause.verify_code, ErrorCode.CERTIFICATE_UNTRUSTED)
                return code, None, f"certificate: {cause.verify_message or cause}"
            if isinstance(cause, ssl.SSLError):
                return ErrorCode.TLS_HANDSHAKE, None, f"TLS handshake: {cause}"
            if isinstance(cause, ConnectionRefusedError):
                return ErrorCode.TCP_REFUSED, "ct", f"connection refused: {message}"
        return ErrorCode.CONNECTION_FAILURE, "ct", f"connect failed: {message}"
    if isinstance(exc, httpx.ProtocolError):
        return ErrorCode.PROTOCOL_VIOLATION, None, f"protocol violation: {message}"
    if isinstance(exc, httpx.NetworkError):
        return ErrorCode.CONNECTION_FAILURE, None, f"connection failed: {message}"
    if isinstance(exc, httpx.InvalidURL | httpx.UnsupportedProtocol):
        return ErrorCode.INVALID_URL, None, message
    return ErrorCode.RETRIEVAL_FAILURE, None, message
