"""<Play>: audio fetched from a URL (WAV or MP3, cached by HTTP rules), or `digits` sent as DTMF."""

from __future__ import annotations

from callgate.core.verbs import Play
from callgate.engine.verbs.base import CallContext, FetchError, Step

MAX_LOOPS = 1000
#: Twilio's debugger: the URL of a <Play> could not be fetched or decoded
PLAY_FETCH_FAILED = 11200
PLAY_BAD_AUDIO = 13227


async def run(ctx: CallContext, verb: Play) -> Step:
    if verb.digits:
        await ctx.press(verb.digits)
        return None
    if not verb.url:
        return None
    url = ctx.absolute(verb.url)
    try:
        samples = await ctx.audio(url)
    except FetchError as exc:
        await ctx.notify(PLAY_FETCH_FAILED, f"Play: {exc}", level="warning", url=url, method="GET")
        return None
    except ValueError as exc:
        await ctx.notify(PLAY_BAD_AUDIO, f"Play: {url} is not audio Callgate can play: {exc}",
                             level="warning", url=url, method="GET")  # fmt: skip
        return None
    await ctx.play(samples, verb.loop or MAX_LOOPS)
    return None
