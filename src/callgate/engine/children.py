"""The child calls of a call: the parties of its <Dial>.

Each party is a call of its own (`outbound-dial`, with the parent's sid as `parent_call_sid` and the
status callbacks its <Number>/<Sip> asks for), placed by this worker: it runs in this process's map
of running calls (so the API's changes reach it) and holds a lease like its parent, so a reaper finds
it if the worker dies. All are rung at once; the first to answer wins and the others are canceled
(one that answers just as it is canceled is hung up). The winner may run its own document first (a
whisper, `<Number url>`), then is bridged to the caller until either side hangs up, the time limit
passes, the API ends it, or the caller presses * (`hangupOnStar`).

`Children` is what the session offers a <Dial> as `ctx.children` (`verbs.base.ChildCalls`); the
calls are run by whatever `spawn` makes of them (the runner's `CallRunner`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Protocol, TypeVar

from callgate.core.call import Account, Call
from callgate.core.status import TERMINAL
from callgate.engine.session import Session
from callgate.engine.shared import Engine, RunningCall
from callgate.engine.verbs.base import ChildCall, DialAttempt, Goto, Party
from callgate.telephony.aio.leg import CallLeg
from callgate.telephony.aio.media import RtpStream, bridge

log = logging.getLogger("callgate.engine")


class ChildRunner(RunningCall, Protocol):
    """A child call's runner (`runner.CallRunner`): dialled, aborted, ended from here."""

    media: RtpStream | None
    leg: CallLeg | None
    session: Session | None

    @property
    def ended_elsewhere(self) -> asyncio.Event: ...
    async def connect(self, timeout_s: int) -> bool: ...
    def abort(self) -> None: ...
    async def end(self, by: str | None = None, *, at: datetime | None = None) -> None: ...


Spawn = Callable[[Call, Account], ChildRunner]


class Children:
    """The child calls of the call `session` runs on."""

    def __init__(self, engine: Engine, session: Session, spawn: Spawn) -> None:
        self.engine = engine
        self.session = session
        self.spawn = spawn

    @asynccontextmanager
    async def place(self, parties: Sequence[Party]) -> AsyncIterator[DialAttempt]:
        engine, parent = self.engine, self.session.call
        runners: list[ChildRunner] = []
        for party in parties:
            child = await engine.calls.create_child(
                parent, to=party.to, from_=party.from_, options=party.options
            )
            runner = self.spawn(child, self.session.account)
            engine.running[child.id] = runner
            runners.append(runner)
            if engine.owner:  # the child holds a lease like its parent: a reaper finds it if we die
                now = engine.clock()
                await engine.store.claim_call(
                    child.id, engine.owner, now, now + timedelta(seconds=engine.lease_s)
                )
        try:
            yield _Attempt(self, runners)
        finally:
            for runner in runners:
                engine.running.pop(runner.call.id, None)
                if runner.call.status in TERMINAL:
                    with contextlib.suppress(Exception):
                        await asyncio.shield(engine.store.end_run(runner.call.id))


class _Attempt:
    """The parties of one <Dial>."""

    def __init__(self, children: Children, runners: list[ChildRunner]) -> None:
        self.children = children
        self.runners = runners

    @property
    def calls(self) -> list[Call]:
        return [runner.call for runner in self.runners]

    async def first_to_answer(self, timeout_s: int) -> ChildCall | None:
        winner = await first_to_answer(self.runners, timeout_s)
        return None if winner is None else _Answered(self.children, winner)


class _Answered:
    """The party that answered, as the <Dial> verb sees it."""

    def __init__(self, children: Children, runner: ChildRunner) -> None:
        self.children = children
        self.runner = runner

    @property
    def call(self) -> Call:
        return self.runner.call

    @property
    def hung_up(self) -> bool:
        return self.runner.leg is not None and self.runner.leg.remote_hangup.is_set()

    async def press(self, digits: str) -> None:
        if self.runner.media is not None:
            await self.runner.media.press(digits)

    async def whisper(self) -> None:
        """`<Number url>`: a document run on the called party once it answers, before it is connected
        (the caller hears ringing meanwhile: silence here). A <Hangup> in it ends the called leg."""
        winner, parent = self.runner, self.children.session
        options = winner.call.options
        if not options.url or winner.media is None or winner.leg is None:
            return
        engine = self.children.engine
        whisper = Session(
            engine, winner.call, parent.account, parent.face, winner.media, winner.leg.remote_hangup
        )
        whisper.children = Children(engine, whisper, self.children.spawn)
        winner.session = whisper
        running = asyncio.ensure_future(
            whisper.run_for_hangup(Goto(options.url, options.method, kind="voice"))
        )
        gone = asyncio.ensure_future(winner.leg.remote_hangup.wait())
        try:
            await asyncio.wait({running, gone}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            gone.cancel()
            if not running.done():  # the called party hung up during its whisper (or we are cancelled)
                running.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await running
            winner.session = None
        hung_up = running.cancelled() or running.result()
        if hung_up and not winner.leg.remote_hangup.is_set():
            await winner.leg.hangup()
            winner.leg.remote_hangup.set()

    async def bridge(self, *, time_limit_s: int, hangup_on_star: bool) -> str:
        """Connect the caller and the winner until one of them ends it; who or what ended it."""
        winner, session = self.runner, self.children.session
        assert winner.media is not None and winner.leg is not None
        undo = bridge(session.media, winner.media)
        star = asyncio.Event()

        def on_digit(key: str) -> None:
            if key == "*":
                star.set()

        if hangup_on_star:
            session.digit_listeners.append(on_digit)
        waits = {
            asyncio.ensure_future(winner.leg.remote_hangup.wait()): "callee",
            asyncio.ensure_future(winner.ended_elsewhere.wait()): "api",  # the child hung up through the API
            asyncio.ensure_future(session.hung_up.wait()): "caller",
            asyncio.ensure_future(star.wait()): "star",
        }
        try:
            done, _ = await asyncio.wait(waits, timeout=time_limit_s, return_when=asyncio.FIRST_COMPLETED)
            return waits[next(iter(done))] if done else "time-limit"
        finally:
            for task in waits:
                task.cancel()
            undo()
            if hangup_on_star:
                session.digit_listeners.remove(on_digit)

    async def end(self, by: str) -> None:
        await self.runner.end(by=by)


class Dialled(Protocol):
    """What racing the parties needs of each."""

    async def connect(self, timeout_s: int) -> bool: ...
    def abort(self) -> None: ...
    async def end(self, by: str | None = None) -> None: ...


R = TypeVar("R", bound=Dialled)


async def first_to_answer(runners: Sequence[R], timeout_s: int) -> R | None:
    """Ring every party at once; the first to answer. The others are aborted (a party that answered
    at the same moment, or just as it was aborted, is hung up)."""
    tasks = {asyncio.ensure_future(r.connect(timeout_s)): r for r in runners}
    winner: R | None = None
    try:
        while tasks and winner is None:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                runner = tasks.pop(task)
                if _answered(task):
                    if winner is None:
                        winner = runner
                    else:  # answered at the same moment as the winner: hang it up
                        await runner.end(by="dial")
    finally:
        for runner in tasks.values():
            runner.abort()
        if tasks:
            await asyncio.wait(set(tasks))
            for task, runner in tasks.items():
                if _answered(task):  # answered just as it was canceled: it still must hang up
                    with contextlib.suppress(Exception):
                        await asyncio.shield(runner.end(by="dial"))
    return winner


def _answered(task: asyncio.Future[bool]) -> bool:
    if task.cancelled():
        return False
    if task.exception() is not None:
        log.error("a <Dial> party failed to connect: %r", task.exception())
        return False
    return task.result()


__all__ = ["ChildRunner", "Children", "Spawn", "first_to_answer"]
