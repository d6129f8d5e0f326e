"""<Hangup>: end the call."""

from __future__ import annotations

from typing import TYPE_CHECKING

from callgate.core.verbs import Hangup
from callgate.engine.verbs import Step, Stop

if TYPE_CHECKING:
    from callgate.engine.session import Session


async def run(session: Session, verb: Hangup) -> Step:
    return Stop()
