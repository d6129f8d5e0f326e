"""<Pause>: silence for `length` seconds (the stream sends comfort silence meanwhile)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from callgate.core.verbs import Pause
from callgate.engine.verbs import Step

if TYPE_CHECKING:
    from callgate.engine.session import Session


async def run(session: Session, verb: Pause) -> Step:
    await session.wait(verb.length_s)
    return None
