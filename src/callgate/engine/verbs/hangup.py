"""<Hangup>: end the call."""

from __future__ import annotations

from callgate.core.verbs import Hangup
from callgate.engine.verbs.base import CallContext, Step, Stop


async def run(ctx: CallContext, verb: Hangup) -> Step:
    return Stop()
