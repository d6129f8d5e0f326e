"""<Echo>: send the far end's audio back to it, until the call ends (or `timeout_s`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from callgate.core.verbs import Echo
from callgate.engine.verbs import Step

if TYPE_CHECKING:
    from callgate.engine.session import Session


async def run(session: Session, verb: Echo) -> Step:
    await session.echo(verb.timeout_s)
    return None
