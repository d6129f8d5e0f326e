"""Which module runs which verb: built once, when the engine is imported.

A new verb is a module in this package (its `run(ctx, verb)`) and one line here.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from callgate.core import verbs as v
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
from callgate.engine.verbs.base import CallContext, Step

Run = Callable[[CallContext, Any], Awaitable[Step]]

VERBS: dict[type[v.Verb], Run] = {
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


def runner_for(verb: v.Verb) -> Run:
    """The `run` of `verb`'s module."""
    return VERBS[type(verb)]
