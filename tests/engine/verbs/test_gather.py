"""<Gather>: keys while the prompts play stop them (barge-in); gathering ends on finishOnKey, numDigits
or the timeout; the action (or the document itself) gets the digits, and with none the next verb runs
unless actionOnEmptyResult."""

from __future__ import annotations

import asyncio

import pytest

from callgate.core.verbs import Gather, Pause, Play, Say
from callgate.engine.verbs import gather
from callgate.engine.verbs.base import Goto
from tests.engine.verbs.fake import FakeContext, tone

pytestmark = pytest.mark.anyio


async def test_a_key_during_the_prompts_stops_them_and_finish_on_key_ends_the_gathering():
    ctx = FakeContext(speech={"Press a key": tone()}, playing=asyncio.Event())  # the prompt plays on
    verb = Gather(action="/menu", children=(Say("Press a key"), Pause(1)), timeout_s=30)
    running = asyncio.ensure_future(gather.run(ctx, verb))
    await ctx.listening.wait()
    while ("play", 160, 1) not in ctx.done:
        await asyncio.sleep(0)
    ctx.key("42#")
    step = await asyncio.wait_for(running, 5)
    assert step == Goto(
        "https://app.test/menu", "POST", (("Digits", "42"), ("FinishedOnKey", "#")), kind="action"
    )
    assert ("stop_playing",) in ctx.done, "the prompt went on over the key"
    assert ("wait", 1) not in ctx.done, "the prompts after the key still ran"
    assert ctx.digit_listeners == []


async def test_num_digits_ends_it_without_a_finishing_key():
    ctx = FakeContext()
    running = asyncio.ensure_future(gather.run(ctx, Gather(num_digits=2, timeout_s=30)))
    await ctx.listening.wait()
    ctx.key("789")
    step = await asyncio.wait_for(running, 5)
    assert step is not None and step.params == (("Digits", "78"), ("FinishedOnKey", ""))
    assert step.url == "https://app.test/voice", "without an action the document's own URL gets the digits"


async def test_no_digits_goes_on_with_the_next_verb_unless_action_on_empty_result():
    prompts = (Play(url="https://app.test/a.wav"),)
    ctx = FakeContext(files={"https://app.test/a.wav": tone()})
    assert await gather.run(ctx, Gather(timeout_s=0, children=prompts)) is None
    assert ctx.done[:2] == [("audio", "https://app.test/a.wav"), ("play", 160, 1)]
    step = await gather.run(ctx, Gather(timeout_s=0, action_on_empty_result=True, action="next"))
    assert step == Goto(
        "https://app.test/next", "POST", (("Digits", ""), ("FinishedOnKey", "")), kind="action"
    )


async def test_an_inline_document_without_an_action_goes_on():
    ctx = FakeContext(document_url=None)
    running = asyncio.ensure_future(gather.run(ctx, Gather(num_digits=1, timeout_s=30)))
    await ctx.listening.wait()
    ctx.key("5")
    assert await asyncio.wait_for(running, 5) is None
