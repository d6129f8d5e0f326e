"""<Pause>: silence for `length` seconds (the stream sends comfort silence meanwhile)."""

from __future__ import annotations

from callgate.core.verbs import Pause
from callgate.engine.verbs.base import CallContext, Step


async def run(ctx: CallContext, verb: Pause) -> Step:
    await ctx.wait(verb.length_s)
    return None
