"""<Start><Recording> and <Stop><Recording>: a recording of the whole call, begun and ended by the
document, which goes on at once. Pausing, resuming and stopping it through the Recordings API works
as for a recording that API started."""

from __future__ import annotations

from typing import TYPE_CHECKING

from callgate.core.verbs import StartRecording, StopRecording
from callgate.engine.verbs import Step

if TYPE_CHECKING:
    from callgate.engine.session import Session


async def run(session: Session, verb: StartRecording | StopRecording) -> Step:
    if isinstance(verb, StartRecording):
        await session.start_recording(verb)
    else:
        await session.stop_recording(verb.name)
    return None
