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
from typing import TYPE_CHECKING

from callgate.core.verbs import Say, cut_text
from callgate.engine.verbs import Step
from callgate.telephony.aio.tts import SpeechError, pieces

if TYPE_CHECKING:
    from callgate.engine.session import Session
    from callgate.telephony.media.g711 import Samples

#: Twilio stops a `loop="0"` <Say> after this many repetitions
MAX_LOOPS = 1000
SAY_FAILED = 13520
SAY_TOO_LONG = 13521
#: the longest text spoken (Twilio's largest voice limit, Google's 5000 characters)
MAX_TEXT_CHARS = 5000


async def run(session: Session, verb: Say) -> Step:
    text = verb.text
    if len(text) > MAX_TEXT_CHARS:
        text = cut_text(text, MAX_TEXT_CHARS)
        await session.notify(SAY_TOO_LONG, f"Say: the text is {len(verb.text)} characters; the limit is "
                                           f"{MAX_TEXT_CHARS}: the first {len(text)} are spoken",
                             level="warning")  # fmt: skip
    parts = pieces(text)
    if not parts:
        return None
    loops = verb.loop or MAX_LOOPS
    try:
        if len(parts) == 1:
            await session.play(await session.speak(parts[0], verb.voice, verb.language), loops)
        else:
            await _speak_in_pieces(session, verb, parts, loops)
    except SpeechError as exc:
        await session.notify(SAY_FAILED, f"Say: the text could not be spoken: {exc}", level="warning")
    return None


async def _speak_in_pieces(session: Session, verb: Say, parts: list[str], loops: int) -> None:
    """Play the pieces in order, `loops` times, rendering each next piece while one plays."""
    order = itertools.chain.from_iterable(itertools.repeat(parts, loops))

    def render(text: str) -> asyncio.Task[Samples]:
        return asyncio.ensure_future(session.speak(text, verb.voice, verb.language))

    ahead: asyncio.Task[Samples] | None = render(next(order))
    try:
        while ahead is not None:
            samples = await ahead
            following = next(order, None)
            ahead = None if following is None else render(following)
            await session.play(samples)
    finally:
        if ahead is not None:  # the call ended or the verb was interrupted: stop rendering
            ahead.cancel()
            with contextlib.suppress(asyncio.CancelledError, SpeechError):
                await ahead
