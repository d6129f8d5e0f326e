"""<Gather>: collect keys pressed by the far end while (and after) the nested prompts play.

A key stops the prompts (barge-in). Gathering ends on `finishOnKey` (not part of the digits), when
`numDigits` keys are in, or when `timeout` seconds pass without a key (counted from the end of the
prompts, then from each key). With digits, or with none and `actionOnEmptyResult`, the action gets
them (Digits, FinishedOnKey) and its document replaces this one; with none, the next verb runs.
"""

from __future__ import annotations

import asyncio
import contextlib

from callgate.core.verbs import Gather, Pause, Play, Say
from callgate.engine.verbs import pause, play, say
from callgate.engine.verbs.base import CallContext, Goto, Step


async def run(ctx: CallContext, verb: Gather) -> Step:
    digits: list[str] = []
    finished: list[str] = []
    done = asyncio.Event()
    pressed = asyncio.Event()

    def on_digit(key: str) -> None:
        if done.is_set():
            return
        pressed.set()
        if verb.finish_on_key and key in verb.finish_on_key:
            finished.append(key)
            done.set()
            return
        digits.append(key)
        if verb.num_digits is not None and len(digits) >= verb.num_digits:
            done.set()

    ctx.digit_listeners.append(on_digit)
    try:
        prompts = asyncio.ensure_future(_prompts(ctx, verb))
        key = asyncio.ensure_future(pressed.wait())
        try:
            await asyncio.wait({prompts, key}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            key.cancel()
            if not prompts.done():
                prompts.cancel()
                ctx.stop_playing()
                with contextlib.suppress(asyncio.CancelledError):
                    await prompts
        while not done.is_set():
            pressed.clear()
            try:
                await asyncio.wait_for(_either(done, pressed), timeout=verb.timeout_s)
            except TimeoutError:
                break
    finally:
        ctx.digit_listeners.remove(on_digit)
    collected = "".join(digits)
    if not collected and not verb.action_on_empty_result:
        return None
    params = ctx.face.gather_params(
        ctx.call, digits=collected, finished_on_key=finished[0] if finished else None
    )
    url = ctx.absolute(verb.action) if verb.action else ctx.document_url
    if url is None:
        # An inline document has no URL to come back to: Twilio goes on with the next verb.
        return None
    return Goto(url, verb.method, tuple(params), kind="action")


async def _either(done: asyncio.Event, pressed: asyncio.Event) -> None:
    waits = {asyncio.ensure_future(done.wait()), asyncio.ensure_future(pressed.wait())}
    try:
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waits:
            w.cancel()


async def _prompts(ctx: CallContext, verb: Gather) -> None:
    for child in verb.children:
        if isinstance(child, Say):
            await say.run(ctx, child)
        elif isinstance(child, Play):
            await play.run(ctx, child)
        elif isinstance(child, Pause):
            await pause.run(ctx, child)
