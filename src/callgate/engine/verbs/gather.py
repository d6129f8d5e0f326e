"""<Gather>: collect keys pressed by the far end while (and after) the nested prompts play.

A key stops the prompts (barge-in). Gathering ends on `finishOnKey` (not part of the digits), when
`numDigits` keys are in, or when `timeout` seconds pass without a key (counted from the end of the
prompts, then from each key). With digits, or with none and `actionOnEmptyResult`, the action gets
them (Digits, FinishedOnKey) and its document replaces this one; with none, the next verb runs.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING

from callgate.core.verbs import Gather, Pause, Play, Say
from callgate.engine.verbs import Goto, Step, pause, play, say

if TYPE_CHECKING:
    from callgate.engine.session import Session


async def run(session: Session, verb: Gather) -> Step:
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

    session.digit_listeners.append(on_digit)
    try:
        prompts = asyncio.ensure_future(_prompts(session, verb))
        key = asyncio.ensure_future(pressed.wait())
        try:
            await asyncio.wait({prompts, key}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            key.cancel()
            if not prompts.done():
                prompts.cancel()
                session.stop_playing()
                with contextlib.suppress(asyncio.CancelledError):
                    await prompts
        while not done.is_set():
            pressed.clear()
            try:
                await asyncio.wait_for(_either(done, pressed), timeout=verb.timeout_s)
            except TimeoutError:
                break
    finally:
        session.digit_listeners.remove(on_digit)
    collected = "".join(digits)
    if not collected and not verb.action_on_empty_result:
        return None
    params = session.face.gather_params(
        session.call, digits=collected, finished_on_key=finished[0] if finished else None
    )
    url = session.absolute(verb.action) if verb.action else session.document_url
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


async def _prompts(session: Session, verb: Gather) -> None:
    for child in verb.children:
        if isinstance(child, Say):
            await say.run(session, child)
        elif isinstance(child, Play):
            await play.run(session, child)
        elif isinstance(child, Pause):
            await pause.run(session, child)
