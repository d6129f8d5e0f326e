"""<Record>: a beep, then the caller's audio recorded (inbound, mono, the verb's trim) until finishOnKey,
silence for `timeout`, maxLength or a hangup; a completed recording is reported to its callback and
the action (or the document) gets it; an empty one makes no request."""

from __future__ import annotations

import asyncio

import pytest

from callgate.core.verbs import Record
from callgate.engine.verbs import record
from tests.engine.verbs.fake import FakeContext

pytestmark = pytest.mark.anyio


async def test_finish_on_key_ends_it_and_the_action_gets_the_recording_and_key():
    ctx = FakeContext()
    verb = Record(
        action="done", finish_on_key="#", recording_status_callback="https://cb.test/rec", timeout_s=0
    )
    running = asyncio.ensure_future(record.run(ctx, verb))
    await ctx.listening.wait()
    ctx.key("1#")
    step = await asyncio.wait_for(running, 5)
    assert ctx.done[0] == ("play", int(8000 * record.BEEP_S), 1), "no beep first"
    assert ctx.done[1:] == [("begin_recording", "RecordVerb", "mono", "inbound", "trim-silence"),
                            ("finish_recording", "RecordVerb")]  # fmt: skip
    assert step is not None and step.url == "https://app.test/done" and step.kind == "action"
    assert dict(step.params)["Digits"] == "#"
    assert ctx.callbacks == [("https://cb.test/rec", "POST", ("completed",), "RecordVerb")]
    assert ctx.digit_listeners == [] and ctx.audio_listeners == []


async def test_a_hangup_ends_it_and_says_so():
    ctx = FakeContext()
    ctx.hung_up.set()
    step = await asyncio.wait_for(record.run(ctx, Record(play_beep=False)), 5)
    assert step is not None and dict(step.params)["Digits"] == "hangup"
    assert step.url == "https://app.test/voice"


async def test_max_length_ends_it_on_the_contexts_clock():
    ctx = FakeContext()
    step = await asyncio.wait_for(record.run(ctx, Record(play_beep=False, max_length_s=0)), 5)
    assert step is not None and dict(step.params)["Digits"] == ""


async def test_silence_for_the_timeout_ends_it():
    ctx = FakeContext(tick=10)  # ten seconds pass between two looks at the clock, and nobody speaks
    step = await asyncio.wait_for(record.run(ctx, Record(play_beep=False, timeout_s=5)), 5)
    assert step is not None and dict(step.params)["Digits"] == ""


async def test_speech_counts_as_voice_and_a_quiet_frame_does_not():
    ctx = FakeContext()
    running = asyncio.ensure_future(record.run(ctx, Record(play_beep=False, timeout_s=5, finish_on_key="#")))
    await ctx.listening.wait()
    (hear,) = ctx.audio_listeners
    ctx.tick = 0
    quiet = record.beep()[:160] // 100
    ctx.now = 200.0
    hear(quiet, quiet)
    ctx.now = 300.0
    hear(record.beep()[:160], quiet)
    ctx.key("#")
    await asyncio.wait_for(running, 5)
    assert ctx.looked_at[-1] == 300.0 and 200.0 not in ctx.looked_at, "a quiet frame counted as voice"


async def test_an_empty_recording_makes_no_request():
    ctx = FakeContext(recording_status="absent")
    ctx.hung_up.set()
    assert await record.run(ctx, Record(play_beep=False, recording_status_callback="https://cb.test")) is None
    assert ctx.callbacks == []
