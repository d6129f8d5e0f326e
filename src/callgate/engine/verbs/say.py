"""<Say>: text to speech (espeak-ng), `loop` times; loop 0 repeats until the call ends or is interrupted.

Text is bounded before it is rendered: the markup's parser cuts it to its voice's limit (Twilio
13521), and text that reaches the verb some other way (a text/plain document of up to 64 KB) is cut
here to `MAX_TEXT_CHARS`, with the same warning. Long text is rendered a piece at a time (`pieces`),
the next piece while the current one plays, so memory and the wait before the first word stay small.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools

from callgate.core.notices import Notice, NoticeKind
from callgate.core.verbs import Say, cut_text
from callgate.engine.verbs.base import CallContext, Samples, SpeechError, Step, pieces

#: Twilio stops a `loop="0"` <Say> after this many repetitions
MAX_LOOPS = 1000
#: the longest text spoken (Twilio's largest voice limit, Google's 5000 characters)
MAX_TEXT_CHARS = 5000


async def run(ctx: CallContext, verb: Say) -> Step:
    text = verb.text
    if len(text) > MAX_TEXT_CHARS:
        text = cut_text(text, MAX_TEXT_CHARS)
        detail = (f"Say: the text is {len(verb.text)} characters; the limit is {MAX_TEXT_CHARS}: "
                  f"the first {len(text)} are spoken")  # fmt: skip
        await ctx.notify(Notice(NoticeKind.SAY_TOO_LONG, detail, "warning"))
    parts = pieces(text)
    if not parts:
        return None
    loops = verb.loop or MAX_LOOPS
    try:
        if len(parts) == 1:
            await ctx.play(await ctx.speak(parts[0], verb.voice, verb.language), loops)
        else:
            await _speak_in_pieces(ctx, verb, parts, loops)
    except SpeechError as exc:
        detail = f"Say: the text could not be spoken: {exc}"
        await ctx.notify(Notice(NoticeKind.SAY_FAILED, detail, "warning"))
    return None


async def _speak_in_pieces(ctx: CallContext, verb: Say, parts: list[str], loops: int) -> None:
    """Play the pieces in order, `loops` times, rendering each next piece while one plays."""
    order = itertools.chain.from_iterable(itertools.repeat(parts, loops))

    def render(text: str) -> asyncio.Task[Samples]:
        return asyncio.ensure_future(ctx.speak(text, verb.voice, verb.language))

    ahead: asyncio.Task[Samples] | None = render(next(order))
    try:
        while ahead is not None:
            samples = await ahead
            following = next(order, None)
            ahead = None if following is None else render(following)
            await ctx.play(samples)
    finally:
        if ahead is not None:  # the call ended or the verb was interrupted: stop rendering
            ahead.cancel()
            with contextlib.suppress(asyncio.CancelledError, SpeechError):
                await ahead
