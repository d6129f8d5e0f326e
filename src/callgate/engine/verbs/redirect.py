"""<Redirect>: fetch another document (relative URLs against the current one) and run it instead."""

from __future__ import annotations

from callgate.core.verbs import Redirect
from callgate.engine.verbs.base import CallContext, Goto, Step


async def run(ctx: CallContext, verb: Redirect) -> Step:
    return Goto(ctx.absolute(verb.url), verb.method, kind="redirect")
