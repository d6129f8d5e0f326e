"""The verbs a call runs, one module each. Each module's `run(session, verb)` plays its part on the
live call and says what comes next: nothing (the next verb), `Goto` (fetch and run another document)
or `Stop` (hang up)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from callgate.core import verbs as v

if TYPE_CHECKING:
    from callgate.engine.session import Session


@dataclass(frozen=True, slots=True)
class Goto:
    """Fetch `url` with `method` (and these parameters besides the call's) and run what it returns."""

    url: str
    method: str = "POST"
    params: tuple[tuple[str, str], ...] = ()
    kind: str = "action"


@dataclass(frozen=True, slots=True)
class Stop:
    """End the call."""


Step = Goto | Stop | None
Runner = Callable[["Session", Any], Awaitable[Step]]


def runner_for(verb: v.Verb) -> Runner:
    from callgate.engine.verbs import (
        dial,
        echo,
        gather,
        hangup,
        pause,
        play,
        record,
        redirect,
        reject,
        say,
        start,
    )

    table: dict[type, Runner] = {
        v.Say: say.run,
        v.Play: play.run,
        v.Pause: pause.run,
        v.Gather: gather.run,
        v.Record: record.run,
        v.Dial: dial.run,
        v.Hangup: hangup.run,
        v.Redirect: redirect.run,
        v.Reject: reject.run,
        v.Echo: echo.run,
        v.StartRecording: start.run,
        v.StopRecording: start.run,
    }
    return table[type(verb)]
