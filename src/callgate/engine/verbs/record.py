"""<Record>: not run yet; reported as Twilio reports a verb it cannot run, and the call goes on."""

from __future__ import annotations

from typing import TYPE_CHECKING

from callgate.core.verbs import Record
from callgate.engine.verbs import Step

if TYPE_CHECKING:
    from callgate.engine.session import Session

UNSUPPORTED = 12200


async def run(session: Session, verb: Record) -> Step:
    await session.notify(UNSUPPORTED, "Record is not supported by this Callgate version yet", level="warning")
    return None
