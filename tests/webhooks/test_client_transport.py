"""The webhook client over an injected `MockTransport`: delivery, retries, redirects and overrides, no socket.

The real transport (the guard, the pool, TLS) is tested against a real server in test_client.py.
"""

from __future__ import annotations

import asyncio
from urllib.parse import parse_qsl

import httpx
import pytest
from starlette.datastructures import FormData
from twilio.request_validator import RequestValidator

from callgate.webhooks.client import MAX_DOCUMENT_BYTES, ErrorCode, WebhookClient, WebhookRequest
from callgate.webhooks.signature import signature_headers
from callgate.webhooks.ssrf import HostGuard
from callgate.webhooks.transport import MockTransport, Request, Response

pytestmark = pytest.mark.anyio

TOKEN = "f0e1d2c3b4a5968778695a4b3c2d1e0f"
CALL = [("CallSid", "CA0123456789abcdef0123456789abcdef"), ("Digits", "1"), ("Digits", "2"), ("To", "+1 5")]
XML = {"content-type": "text/xml"}


def answer(
    status: int = 200, body: bytes = b"<Response/>", headers: dict[str, str] | None = None
) -> Response:
    return Response(status, dict(XML if headers is None else headers), body, False)


class Script:
    """A handler that records each request and answers with the next scripted reply (then 200)."""

    def __init__(self, *replies: Response | Exception) -> None:
        self.replies = list(replies)
        self.seen: list[Request] = []

    def __call__(self, request: Request) -> Response:
        self.seen.append(request)
        reply = self.replies.pop(0) if self.replies else answer()
        if isinstance(reply, Exception):
            raise reply
        return reply


def client(script: Script, **options: object) -> WebhookClient:
    return WebhookClient(transport=MockTransport(script), **options)  # type: ignore[arg-type]


async def test_a_post_goes_to_the_transport_form_encoded_and_signed_on_the_sent_url():
    script = Script(answer(body=b"<Response><Say>hi</Say></Response>"))

    def signed(url: str, params: list[tuple[str, str]]) -> dict[str, str]:
        return signature_headers("twilio", url, params, TOKEN)

    async with client(script) as webhooks:
        delivery = await webhooks.send(
            WebhookRequest("https://app.example/voice?x=1#rc=0", "POST", CALL, signed)
        )
    [request] = script.seen
    assert (request.method, str(request.url)) == ("POST", "https://app.example/voice?x=1")
    assert request.body == b"CallSid=CA0123456789abcdef0123456789abcdef&Digits=1&Digits=2&To=%2B1+5"
    names = [name for name, _ in request.headers]
    assert names == [
        "Accept",
        "Connection",
        "User-Agent",
        "Content-Type",
        "Content-Length",
        "X-Twilio-Signature",
    ]
    headers = dict(request.headers)
    assert headers["User-Agent"] == "TwilioProxy/1.1"
    assert headers["Content-Length"] == str(len(request.body))
    form = parse_qsl(request.body.decode(), keep_blank_values=True)
    validator = RequestValidator(TOKEN)
    assert validator.validate(str(request.url), FormData(form), headers["X-Twilio-Signature"])
    assert (request.connect_timeout, request.read_timeout, request.limit) == (5.0, 15.0, MAX_DOCUMENT_BYTES)
    assert delivery.ok and delivery.text == "<Response><Say>hi</Say></Response>"
    assert delivery.content_type == "text/xml"
    [attempt] = delivery.attempts
    assert (attempt.status, attempt.error, attempt.request_headers["host"]) == (200, None, "app.example")


async def test_a_get_carries_the_params_in_the_query_and_no_body():
    script = Script()
    async with client(script) as webhooks:
        await webhooks.send(WebhookRequest("http://app.example/status?a=b", "GET", CALL[:2]))
    [request] = script.seen
    assert (
        str(request.url)
        == "http://app.example/status?a=b&CallSid=CA0123456789abcdef0123456789abcdef&Digits=1"
    )
    assert request.body == b""
    assert "Content-Type" not in dict(request.headers)


async def test_the_timeout_overrides_reach_the_transport_in_seconds():
    script = Script()
    async with client(script) as webhooks:
        await webhooks.send(WebhookRequest("http://app.example/v#ct=1200&rt=3400", "POST", max_body=None))
    [request] = script.seen
    assert (request.connect_timeout, request.read_timeout, request.limit) == (1.2, 3.4, 1024)


async def test_a_5xx_is_retried_only_when_the_policy_names_it():
    script = Script(answer(503), answer(502), answer(200))
    async with client(script) as webhooks:
        delivery = await webhooks.send(WebhookRequest("http://app.example/v#rc=2&rp=5xx"))
    assert delivery.ok
    assert [(a.status, a.retry, a.error_code) for a in delivery.attempts] == [
        (503, 0, ErrorCode.RETRIEVAL_FAILURE),
        (502, 1, ErrorCode.RETRIEVAL_FAILURE),
        (200, 2, None),
    ]
    script = Script(answer(503))
    async with client(script) as webhooks:
        delivery = await webhooks.send(WebhookRequest("http://app.example/v"))
    assert not delivery.ok and len(script.seen) == 1


async def test_transport_errors_get_their_codes_and_connect_failures_are_retried():
    refused = httpx.ConnectError("[Errno 111] Connection refused")
    refused.__cause__ = ConnectionRefusedError(111, "Connection refused")
    script = Script(httpx.ConnectTimeout("slow"), refused, answer(), httpx.ReadTimeout("no data"))
    async with client(script) as webhooks:
        delivery = await webhooks.send(WebhookRequest("http://app.example/v#rc=2"))
        again = await webhooks.send(WebhookRequest("http://app.example/v#rp=rt"))
    assert [(a.error_code, a.retry) for a in delivery.attempts] == [
        (ErrorCode.TCP_TIMEOUT, 0),
        (ErrorCode.TCP_REFUSED, 1),
        (None, 2),
    ]
    assert [(a.error_code, a.error) for a in again.attempts] == [
        (ErrorCode.CONNECTION_FAILURE, "read timed out: no data"),
        (None, None),
    ]


async def test_the_total_time_bounds_a_transport_that_never_answers():
    never = asyncio.Event()
    seen: list[Request] = []

    async def hang(request: Request) -> Response:
        seen.append(request)
        await never.wait()
        raise AssertionError("unreachable")

    async with WebhookClient(transport=MockTransport(hang)) as webhooks:
        delivery = await webhooks.send(WebhookRequest("http://app.example/v#tt=100&rc=3&rp=all"))
    assert len(seen) == 1
    [attempt] = delivery.attempts
    assert (attempt.error_code, attempt.error) == (ErrorCode.TOTAL_TIMEOUT, "total time of 100 ms ran out")


async def test_a_302_after_a_post_continues_as_a_get_and_a_307_repeats_the_post():
    script = Script(
        answer(302, b"", {"location": "/next"}), answer(307, b"", {"location": "http://b.example/x"})
    )
    async with client(script) as webhooks:
        delivery = await webhooks.send(WebhookRequest("http://app.example/first", "POST", CALL))
    assert [(r.method, str(r.url), r.body) for r in script.seen] == [
        ("POST", "http://app.example/first", script.seen[0].body),
        ("GET", "http://app.example/next", b""),
        ("GET", "http://b.example/x", b""),
    ]
    assert [a.redirect for a in delivery.attempts] == [0, 1, 2]
    script = Script(answer(307, b"", {"location": "/again"}))
    async with client(script) as webhooks:
        await webhooks.send(WebhookRequest("http://app.example/first", "POST", CALL))
    assert [(r.method, r.body) for r in script.seen] == [("POST", script.seen[0].body)] * 2
    assert script.seen[0].body


async def test_a_redirect_loop_stops_at_max_redirects():
    script = Script(*[answer(302, b"", {"location": "/loop"}) for _ in range(10)])
    async with client(script, max_redirects=2) as webhooks:
        delivery = await webhooks.send(WebhookRequest("http://app.example/loop", "GET"))
    assert len(script.seen) == 3
    assert delivery.final.error_code == ErrorCode.TOO_MANY_REDIRECTS


async def test_a_body_over_max_body_is_cut_by_the_transport_and_is_11750():
    script = Script(answer(body=b"x" * 5000))
    async with client(script) as webhooks:
        delivery = await webhooks.send(WebhookRequest("http://app.example/v", max_body=4096))
    assert script.seen[0].limit == 4096
    assert not delivery.ok and len(delivery.body) == 4096
    assert delivery.final.error_code == ErrorCode.BODY_TOO_LARGE
    assert len(delivery.final.response_body) == 1024


async def test_the_guard_belongs_to_the_real_transport():
    script = Script()
    async with client(script) as webhooks:
        delivery = await webhooks.send(WebhookRequest("http://10.0.0.1/hook", "POST", CALL))
    assert delivery.ok and len(script.seen) == 1  # a mock reaches anything
    with pytest.raises(ValueError, match="brings its own guard"):
        WebhookClient(transport=MockTransport(script), guard=HostGuard())


async def test_closing_the_client_closes_its_transport():
    closed: list[bool] = []

    class Closing(MockTransport):
        async def aclose(self) -> None:
            closed.append(True)

    async with WebhookClient(transport=Closing(Script())):
        assert closed == []
    assert closed == [True]
