"""<Reject>: refuse a call before it is answered.

The calls Callgate places run their document once the far end has answered, so there is nothing
left to refuse: like Twilio for an answered call, <Reject> ends the call (completed).
"""

from __future__ import annotations

from callgate.core.verbs import Reject
from callgate.engine.verbs.base import CallContext, Step, Stop


async def run(ctx: CallContext, verb: Reject) -> Step:
    return Stop()
