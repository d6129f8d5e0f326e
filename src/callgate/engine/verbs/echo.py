"""<Echo>: send the far end's audio back to it, until the call ends (or `timeout_s`)."""

from __future__ import annotations

from callgate.core.verbs import Echo
from callgate.engine.verbs.base import CallContext, Step


async def run(ctx: CallContext, verb: Echo) -> Step:
    await ctx.echo(verb.timeout_s)
    return None
