"""<Pause> waits its length; <Echo> sends the far end back to itself for its timeout."""

from __future__ import annotations

import pytest

from callgate.core.verbs import Echo, Pause
from callgate.engine.verbs import echo, pause
from tests.engine.verbs.fake import FakeContext

pytestmark = pytest.mark.anyio


async def test_pause_waits_its_length():
    ctx = FakeContext()
    assert await pause.run(ctx, Pause(length_s=2.5)) is None
    assert ctx.done == [("wait", 2.5)]


async def test_echo_runs_for_its_timeout():
    ctx = FakeContext()
    assert await echo.run(ctx, Echo(timeout_s=4)) is None
    assert ctx.done == [("echo", 4)]
