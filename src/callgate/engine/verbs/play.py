"""<Play>: audio fetched from a URL (WAV or MP3, cached by HTTP rules), or `digits` sent as DTMF."""

from __future__ import annotations

from callgate.core.notices import Notice, NoticeKind
from callgate.core.verbs import Play
from callgate.engine.verbs.base import CallContext, FetchError, Step

MAX_LOOPS = 1000


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
        await ctx.notify(Notice(NoticeKind.AUDIO_FETCH_FAILED, f"Play: {exc}", "warning", url, "GET"))
        return None
    except ValueError as exc:
        detail = f"Play: {url} is not audio Callgate can play: {exc}"
        await ctx.notify(Notice(NoticeKind.BAD_AUDIO, detail, "warning", url, "GET"))
        return None
    await ctx.play(samples, verb.loop or MAX_LOOPS)
    return None
