"""The verbs that only say what comes next: <Hangup> and <Reject> stop the call, <Redirect> goes to
another document (relative to this one); <Start>/<Stop><Recording> hand the call's recordings the
verb and the document goes on."""

from __future__ import annotations

import pytest

from callgate.core.verbs import Hangup, Redirect, Reject, StartRecording, StopRecording
from callgate.engine.verbs import hangup, redirect, reject, start
from callgate.engine.verbs.base import Goto, Stop
from tests.engine.verbs.fake import FakeContext

pytestmark = pytest.mark.anyio


async def test_hangup_and_reject_stop_the_call():
    ctx = FakeContext()
    assert await hangup.run(ctx, Hangup()) == Stop()
    assert await reject.run(ctx, Reject(reason="busy")) == Stop()
    assert ctx.done == []


async def test_redirect_resolves_against_the_document():
    ctx = FakeContext(document_url="https://app.test/menu/main.xml")
    step = await redirect.run(ctx, Redirect("next.xml", method="GET"))
    assert step == Goto("https://app.test/menu/next.xml", "GET", kind="redirect")


async def test_an_inline_document_redirects_to_the_url_as_given():
    ctx = FakeContext(document_url=None)
    assert await redirect.run(ctx, Redirect("https://other.test/x")) == Goto(
        "https://other.test/x", kind="redirect"
    )


async def test_start_and_stop_recording_go_to_the_calls_recordings():
    ctx = FakeContext()
    assert await start.run(ctx, StartRecording(name="r1")) is None
    assert await start.run(ctx, StopRecording(name="r1")) is None
    assert await start.run(ctx, StopRecording()) is None
    assert ctx.done == [("start_recording", "r1"), ("stop_recording", "r1"), ("stop_recording", None)]
