"""<Start><Recording> and <Stop><Recording>: a recording of the whole call, begun and ended by the
document, which goes on at once. Pausing, resuming and stopping it through the Recordings API works
as for a recording that API started."""

from __future__ import annotations

from callgate.core.verbs import StartRecording, StopRecording
from callgate.engine.verbs.base import CallContext, Step


async def run(ctx: CallContext, verb: StartRecording | StopRecording) -> Step:
    if isinstance(verb, StartRecording):
        await ctx.start_recording(verb)
    else:
        await ctx.stop_recording(verb.name)
    return None
