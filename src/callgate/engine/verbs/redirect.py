"""<Redirect>: fetch another document (relative URLs against the current one) and run it instead."""

from __future__ import annotations

from typing import TYPE_CHECKING

from callgate.core.verbs import Redirect
from callgate.engine.verbs import Goto, Step

if TYPE_CHECKING:
    from callgate.engine.session import Session


async def run(session: Session, verb: Redirect) -> Step:
    return Goto(session.absolute(verb.url), verb.method, kind="redirect")
