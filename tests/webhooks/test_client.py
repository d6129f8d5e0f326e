"""The webhook client against a real HTTP server on 127.0.0.1 (uvicorn + starlette in a thread).

The server records every request it receives and checks its X-Twilio-Signature with the twilio SDK's
`RequestValidator` on the URL it was asked for, as a customer's application would. Slow answers wait
on an event the tests never set (released when the server stops), so timeouts need no sleeps.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl, urlencode

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from twilio.request_validator import RequestValidator

from callgate.webhooks.client import (
    LOGGED_BODY_BYTES,
    ErrorCode,
    WebhookClient,
    WebhookRequest,
)
from callgate.webhooks.http11 import Http11Pool
from callgate.webhooks.signature import signature_headers
from callgate.webhooks.ssrf import HostGuard

pytestmark = pytest.mark.anyio

TOKEN = "f0e1d2c3b4a5968778695a4b3c2d1e0f"
CALL = [
    ("AccountSid", "AC0123456789abcdef0123456789abcdef"),
    ("CallSid", "CA0123456789abcdef0123456789abcdef"),
    ("From", "+15005550006"),
    ("To", "+15005550001"),
    ("CallStatus", "in-progress"),
    ("Digits", "1"),
    ("Digits", "2"),
    ("SpeechResult", "héllo wörld & more ☎"),
]


def twilio_signed(url: str, params: list[tuple[str, str]]) -> dict[str, str]:
    return signature_headers("twilio", url, params, TOKEN)


@dataclass
class Reply:
    status: int = 200
    body: bytes = b"<Response/>"
    headers: dict[str, str] = field(default_factory=lambda: {"content-type": "text/xml"})


@dataclass
class Seen:
    """A request as the server received it; `url` is rebuilt from the Host header and the raw target."""

    method: str
    url: str
    headers: dict[str, str]
    body: bytes
    form: FormData
    signature_valid: bool | None


class Site:
    """What the server answers (scripted per path, else 200 <Response/>) and what it saw."""

    def __init__(self) -> None:
        self.seen: list[Seen] = []
        self.script: dict[str, list[Reply]] = {}
        self.release = asyncio.Event()  # set only when the server stops

    def respond(self, path: str, *replies: Reply) -> None:
        self.script[path] = list(replies)

    async def endpoint(self, request: Request) -> Response:
        body = await request.body()
        query = request.scope["query_string"].decode("latin-1")
        target = request.scope["raw_path"].decode("latin-1") + (f"?{query}" if query else "")
        url = f"{request.scope['scheme']}://{request.headers['host']}{target}"
        form = (
            FormData(parse_qsl(body.decode(), keep_blank_values=True))
            if request.method == "POST"
            else FormData()
        )
        signature = request.headers.get("x-twilio-signature")
        valid = None if signature is None else RequestValidator(TOKEN).validate(url, form, signature)
        self.seen.append(Seen(request.method, url, dict(request.headers), body, form, valid))
        if request.url.path == "/slow":
            await self.release.wait()
        queue = self.script.get(request.url.path)
        reply = queue.pop(0) if queue else Reply()
        return Response(reply.body, status_code=reply.status, headers=reply.headers)


class ThreadServer:
    """uvicorn on an already bound loopback socket, in a thread with its own event loop."""

    def __init__(self, site: Site, certfile: Path | None = None, keyfile: Path | None = None) -> None:
        self.site = site
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.port = int(self.sock.getsockname()[1])
        app = Starlette(routes=[Route("/{path:path}", site.endpoint, methods=["GET", "POST"])])
        config = uvicorn.Config(
            app,
            log_level="error",
            lifespan="off",
            ssl_certfile=str(certfile) if certfile else None,
            ssl_keyfile=str(keyfile) if keyfile else None,
            timeout_graceful_shutdown=2,
        )
        self.server = uvicorn.Server(config)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._run, name=f"webhook-site-{self.port}", daemon=True)

    def _run(self) -> None:
        self.loop.run_until_complete(self.server.serve(sockets=[self.sock]))

    def __enter__(self) -> ThreadServer:
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            assert self.thread.is_alive() and time.monotonic() < deadline, "the test server did not start"
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self.loop.call_soon_threadsafe(self.site.release.set)
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.sock.close()


@pytest.fixture(scope="module")
def server() -> Iterator[ThreadServer]:
    with ThreadServer(Site()) as running:
        yield running


@pytest.fixture
def site(server: ThreadServer) -> Site:
    server.site.seen.clear()
    server.site.script.clear()
    return server.site


@pytest.fixture
def base(server: ThreadServer) -> str:
    return f"http://127.0.0.1:{server.port}"


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def names(table: dict[str, Sequence[str]]):
    async def resolve(host: str, port: int) -> list[str]:
        if host not in table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return list(table[host])

    return resolve


async def test_post_is_form_encoded_signed_on_the_sent_url_and_verifies(site, base):
    calls: list[tuple[str, list[tuple[str, str]]]] = []

    def sign(url: str, params: list[tuple[str, str]]) -> dict[str, str]:
        calls.append((url, params))
        return twilio_signed(url, params)

    async with WebhookClient() as client:
        delivery = await client.send(WebhookRequest(f"{base}/voice?app=1#rc=0", "POST", CALL, sign))
    assert delivery.ok
    assert (delivery.body, delivery.content_type, delivery.text) == (
        b"<Response/>",
        "text/xml",
        "<Response/>",
    )
    assert calls == [(f"{base}/voice?app=1", CALL)]
    [seen] = site.seen
    assert (seen.method, seen.url, seen.signature_valid) == ("POST", f"{base}/voice?app=1", True)
    assert seen.headers["user-agent"] == "TwilioProxy/1.1"
    assert seen.headers["content-type"] == "application/x-www-form-urlencoded"
    assert seen.form.multi_items() == CALL
    [attempt] = delivery.attempts
    assert attempt is delivery.final
    assert (attempt.url, attempt.method, attempt.status, attempt.error, attempt.error_code) == (
        f"{base}/voice?app=1",
        "POST",
        200,
        None,
        None,
    )
    assert attempt.request_body == urlencode(CALL) == seen.body.decode()
    assert attempt.request_headers["x-twilio-signature"] == seen.headers["x-twilio-signature"]
    assert attempt.response_body == "<Response/>"
    assert attempt.response_headers["content-type"] == "text/xml"
    assert abs(attempt.started_at - time.time()) < 60
    assert 0 <= attempt.elapsed_ms < 5000


async def test_get_appends_params_after_the_query_and_signs_the_url_alone(site, base):
    async with WebhookClient() as client:
        delivery = await client.send(WebhookRequest(f"{base}/voice?app=1", "GET", CALL, twilio_signed))
    assert delivery.ok
    [seen] = site.seen
    expected = f"{base}/voice?app=1&{urlencode(CALL)}"
    assert (seen.method, seen.url, seen.body, seen.signature_valid) == ("GET", expected, b"", True)
    assert "content-type" not in seen.headers
    assert delivery.final.url == expected
    assert delivery.final.request_body == ""


async def test_get_without_a_query_starts_one(site, base):
    async with WebhookClient() as client:
        await client.send(WebhookRequest(f"{base}/voice", "get", [("Digits", "1 2")], twilio_signed))
    [seen] = site.seen
    assert (seen.url, seen.signature_valid) == (f"{base}/voice?Digits=1+2", True)


async def test_signalwire_headers_both_verify(site, base):
    def sign(url: str, params: list[tuple[str, str]]) -> dict[str, str]:
        return signature_headers("signalwire", url, params, TOKEN)

    async with WebhookClient() as client:
        assert (await client.send(WebhookRequest(f"{base}/laml", "POST", CALL, sign))).ok
    [seen] = site.seen
    assert seen.signature_valid is True
    assert seen.headers["x-signalwire-signature"] == seen.headers["x-twilio-signature"]


async def test_a_5xx_is_retried_when_the_policy_names_it(site, base):
    site.respond("/status", Reply(500, b"oops", {"content-type": "text/plain"}), Reply(204, b"", {}))
    async with WebhookClient() as client:
        delivery = await client.send(
            WebhookRequest(f"{base}/status#rc=1&rp=5xx", "POST", CALL, twilio_signed)
        )
    assert delivery.ok
    assert [(a.retry, a.status, a.error_code, a.error) for a in delivery.attempts] == [
        (0, 500, ErrorCode.RETRIEVAL_FAILURE, "HTTP 500"),
        (1, 204, None, None),
    ]
    assert delivery.attempts[0].response_body == "oops"
    assert [s.signature_valid for s in site.seen] == [True, True]


async def test_the_default_policy_does_not_retry_a_5xx(site, base):
    site.respond("/status", Reply(503))
    async with WebhookClient() as client:
        delivery = await client.send(WebhookRequest(f"{base}/status", "POST", CALL))
    assert not delivery.ok
    assert [(a.status, a.error_code) for a in delivery.attempts] == [(503, 11200)]
    assert len(site.seen) == 1


async def test_a_4xx_is_retried_up_to_rc_times(site, base):
    site.respond("/gone", Reply(404), Reply(404), Reply(404), Reply(200))
    async with WebhookClient() as client:
        delivery = await client.send(WebhookRequest(f"{base}/gone#rc=2&rp=4xx", "GET"))
    assert not delivery.ok
    assert [(a.retry, a.status) for a in delivery.attempts] == [(0, 404), (1, 404), (2, 404)]
    assert len(site.seen) == 3


@pytest.mark.parametrize(("fragment", "tries"), [("", 2), ("#rc=0", 1), ("#rc=3", 4), ("#rc=3&rp=5xx", 1)])
async def test_connection_refused_is_a_ct_failure(fragment, tries):
    url = f"http://127.0.0.1:{closed_port()}/voice"
    async with WebhookClient() as client:
        delivery = await client.send(WebhookRequest(url + fragment, "POST", CALL, twilio_signed))
    assert not delivery.ok
    assert [a.retry for a in delivery.attempts] == list(range(tries))
    assert {a.error_code for a in delivery.attempts} == {ErrorCode.TCP_REFUSED}
    assert all(a.status is None and a.error.startswith("connection refused") for a in delivery.attempts)


async def test_a_read_timeout_override(site, base):
    async with WebhookClient() as client:
        delivery = await client.send(WebhookRequest(f"{base}/slow#rt=200", "POST", CALL))
    [attempt] = delivery.attempts  # rp=ct by default: a read timeout is not retried
    assert (attempt.status, attempt.error_code) == (None, ErrorCode.CONNECTION_FAILURE)
    assert attempt.error.startswith("read timed out")
    assert 150 <= attempt.elapsed_ms < 5000
    assert len(site.seen) == 1


async def test_a_read_timeout_is_retried_under_rp_rt(site, base):
    async with WebhookClient() as client:
        delivery = await client.send(WebhookRequest(f"{base}/slow#rt=150&rc=1&rp=rt", "GET"))
    assert [(a.retry, a.error_code) for a in delivery.attempts] == [(0, 11205), (1, 11205)]
    assert len(site.seen) == 2


async def test_total_time_bounds_every_attempt_together(site, base):
    async with WebhookClient() as client:
        delivery = await client.send(WebhookRequest(f"{base}/slow#rt=5000&tt=300&rc=5&rp=all", "GET"))
    [attempt] = delivery.attempts
    assert (attempt.error_code, attempt.error) == (ErrorCode.TOTAL_TIMEOUT, "total time of 300 ms ran out")
    assert 250 <= attempt.elapsed_ms < 3000


async def test_the_logged_body_is_cut_at_1_kb_the_delivered_one_is_not(site, base):
    big = ("é" + "a" * 99).encode() * 50  # 5050 bytes
    site.respond("/big", Reply(200, big, {"content-type": "text/plain; charset=utf-8"}))
    async with WebhookClient() as client:
        delivery = await client.send(WebhookRequest(f"{base}/big", "GET"))
    assert delivery.ok and delivery.body == big
    assert delivery.final.response_body == big[:LOGGED_BODY_BYTES].decode()
    assert len(delivery.final.response_body.encode()) == 1024


async def test_a_body_over_max_body_is_error_11750(site, base):
    site.respond("/big", Reply(200, b"x" * 5000, {"content-type": "text/xml"}))
    async with WebhookClient() as client:
        delivery = await client.send(WebhookRequest(f"{base}/big", "GET", max_body=2048))
    assert not delivery.ok
    assert (delivery.final.error_code, delivery.final.error) == (
        11750,
        "response body larger than 2048 bytes",
    )
    assert delivery.body == b"x" * 2048
    assert len(delivery.attempts) == 1


async def test_a_body_nobody_wants_is_not_read_past_the_log(site, base):
    site.respond("/status", Reply(200, b"y" * 100_000))
    async with WebhookClient() as client:
        delivery = await client.send(WebhookRequest(f"{base}/status", "POST", CALL, max_body=None))
    assert delivery.ok
    assert delivery.body == b"y" * LOGGED_BODY_BYTES


async def test_a_302_after_post_continues_as_a_signed_get(site, base):
    site.respond("/old", Reply(302, b"", {"location": "/new?moved=1#frag"}))
    async with WebhookClient() as client:
        delivery = await client.send(WebhookRequest(f"{base}/old", "POST", CALL, twilio_signed))
    assert delivery.ok
    assert [(a.method, a.url, a.status, a.redirect) for a in delivery.attempts] == [
        ("POST", f"{base}/old", 302, 0),
        ("GET", f"{base}/new?moved=1", 200, 1),
    ]
    assert [(s.method, s.url, s.signature_valid) for s in site.seen] == [
        ("POST", f"{base}/old", True),
        ("GET", f"{base}/new?moved=1", True),
    ]


async def test_a_307_repeats_the_post_and_its_body(site, base):
    site.respond("/old", Reply(307, b"", {"location": f"{base}/new"}))
    async with WebhookClient() as client:
        delivery = await client.send(WebhookRequest(f"{base}/old", "POST", CALL, twilio_signed))
    assert delivery.ok
    assert [(s.method, s.url, s.form.multi_items(), s.signature_valid) for s in site.seen] == [
        ("POST", f"{base}/old", CALL, True),
        ("POST", f"{base}/new", CALL, True),
    ]


async def test_a_redirect_loop_ends_with_11215(site, base):
    site.respond("/loop", *[Reply(301, b"", {"location": "/loop"})] * 10)
    async with WebhookClient(max_redirects=3) as client:
        delivery = await client.send(WebhookRequest(f"{base}/loop#rc=2&rp=all", "GET"))
    assert not delivery.ok
    assert [a.redirect for a in delivery.attempts] == [0, 1, 2, 3]
    assert (delivery.final.error_code, delivery.final.error) == (11215, "more than 3 redirects")
    assert len(site.seen) == 4


@pytest.mark.parametrize("location", ["ftp://127.0.0.1/x", None])
async def test_a_redirect_nowhere_is_11216(site, base, location):
    site.respond("/odd", Reply(302, b"", {"location": location} if location else {}))
    async with WebhookClient() as client:
        delivery = await client.send(WebhookRequest(f"{base}/odd", "GET"))
    assert delivery.final.error_code == ErrorCode.INVALID_REDIRECT
    assert delivery.final.error == f"HTTP 302 redirect to {location!r}"


async def test_a_private_destination_is_refused_before_any_connection(monkeypatch):
    connects: list[tuple[str, str, int]] = []
    opened = Http11Pool._connect

    async def watched(pool: Http11Pool, scheme: str, host: str, port: int, timeout: float) -> object:
        connects.append((scheme, host, port))
        return await opened(pool, scheme, host, port, timeout)

    monkeypatch.setattr(Http11Pool, "_connect", watched)
    async with WebhookClient() as client:
        delivery = await client.send(WebhookRequest("http://10.0.0.1/hook#rc=3&rp=all", "POST", CALL))
    assert connects == []
    [attempt] = delivery.attempts
    assert (attempt.error_code, attempt.error) == (11205, "blocked: 10.0.0.1 is a private address")


async def test_a_redirect_to_a_refused_address_is_not_followed(site, base, server):
    site.respond("/hop", Reply(302, b"", {"location": f"http://127.0.0.2:{server.port}/inside"}))
    guard = HostGuard(allow_loopback=False, allowed_hosts=["127.0.0.1/32"])
    async with WebhookClient(guard=guard) as client:
        delivery = await client.send(WebhookRequest(f"{base}/hop", "GET"))
    assert [(a.status, a.error) for a in delivery.attempts] == [
        (302, None),
        (None, "blocked: 127.0.0.2 is a loopback address"),
    ]
    assert [s.url for s in site.seen] == [f"{base}/hop"]


async def test_the_connection_goes_to_the_checked_address_and_the_host_name_is_kept(site, server):
    guard = HostGuard(resolver=names({"app.test": ["127.0.0.1"]}))
    async with WebhookClient(guard=guard) as client:
        url = f"http://app.test:{server.port}/voice"
        delivery = await client.send(WebhookRequest(url, "POST", CALL, twilio_signed))
    assert delivery.ok
    [seen] = site.seen
    assert (seen.headers["host"], seen.url, seen.signature_valid) == (f"app.test:{server.port}", url, True)


async def test_dns_rebinding_between_check_and_connect_is_refused(site, server):
    answers = iter([["127.0.0.1"], ["127.0.0.2"]])  # the first answer is checked, the next would be used

    async def rebinding(host: str, port: int) -> list[str]:
        return next(answers)

    guard = HostGuard(allow_loopback=False, allowed_hosts=["127.0.0.1/32"], resolver=rebinding)
    async with WebhookClient(guard=guard) as client:
        delivery = await client.send(WebhookRequest(f"http://rebind.test:{server.port}/voice#rc=0", "GET"))
    assert not delivery.ok
    assert delivery.final.error == "blocked: rebind.test resolves to 127.0.0.2, a loopback address"
    assert site.seen == []


async def test_a_name_that_does_not_resolve_is_11210():
    async with WebhookClient(guard=HostGuard(resolver=names({}))) as client:
        delivery = await client.send(WebhookRequest("https://nowhere.test/voice", "POST", CALL))
    assert [(a.error_code, a.error) for a in delivery.attempts] == [
        (ErrorCode.BAD_HOST_NAME, "nowhere.test does not resolve: Name or service not known")
    ]


@pytest.mark.parametrize(
    ("url", "error"),
    [
        ("not a url", "not an http(s) URL: 'not a url'"),
        ("ftp://example.com/x", "not an http(s) URL: 'ftp://example.com/x'"),
    ],
)
async def test_an_invalid_url_is_11100(url, error):
    async with WebhookClient() as client:
        delivery = await client.send(WebhookRequest(url, "GET"))
    assert [(a.error_code, a.error) for a in delivery.attempts] == [(ErrorCode.INVALID_URL, error)]


async def test_override_warnings_come_with_the_delivery(site, base):
    async with WebhookClient() as client:
        delivery = await client.send(WebhookRequest(f"{base}/voice#rp=bogus&ct=50", "GET"))
    assert delivery.ok
    assert [w.code for w in delivery.warnings] == [11243, None]
    assert delivery.overrides.connect_timeout_ms == 100


async def test_only_get_and_post():
    async with WebhookClient() as client:
        with pytest.raises(ValueError, match="webhooks are sent with GET or POST, not 'PUT'"):
            await client.send(WebhookRequest("http://127.0.0.1/", "PUT"))


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ThreadServer, Path]]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    workdir = tmp_path_factory.mktemp("tls")
    cert, key = workdir / "cert.pem", workdir / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    with ThreadServer(Site(), cert, key) as running:
        yield running, cert


async def test_an_untrusted_certificate_is_11237(tls_server):
    server, _ = tls_server
    async with WebhookClient() as client:
        delivery = await client.send(
            WebhookRequest(f"https://localhost:{server.port}/voice#rc=2&rp=all", "GET")
        )
    [attempt] = delivery.attempts
    assert attempt.error_code == ErrorCode.CERTIFICATE_UNTRUSTED
    assert attempt.error.startswith("certificate: self")  # "self-signed certificate" (OpenSSL's words)
    assert server.site.seen == []


async def test_a_certificate_for_another_name_is_11235(tls_server):
    server, cert = tls_server
    async with WebhookClient(verify=ssl.create_default_context(cafile=str(cert))) as client:
        delivery = await client.send(WebhookRequest(f"https://127.0.0.1:{server.port}/voice", "GET"))
    assert delivery.final.error_code == ErrorCode.CERTIFICATE_DOMAIN_MISMATCH


async def test_a_trusted_certificate_for_the_name_is_used_with_sni(tls_server):
    server, cert = tls_server
    server.site.seen.clear()
    async with WebhookClient(verify=ssl.create_default_context(cafile=str(cert))) as client:
        url = f"https://localhost:{server.port}/voice"
        delivery = await client.send(WebhookRequest(url, "POST", CALL, twilio_signed))
    assert delivery.ok
    [seen] = server.site.seen
    assert (seen.url, seen.signature_valid) == (url, True)
