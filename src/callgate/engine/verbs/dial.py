"""<Dial>: call one or more parties (numbers, SIP URIs) at once and connect the first to answer.

Each party is a call of its own (`outbound-dial`, with the parent's sid as `parent_call_sid` and the
status callbacks its <Number>/<Sip> asks for), placed by this worker. The first to answer is bridged
to the caller; the others are canceled. The bridge lasts until either side hangs up, `timeLimit`
passes, or the caller presses * with `hangupOnStar`. Then the action URL (if any) gets DialCallStatus,
DialCallSid and DialCallDuration and its document replaces this one; without an action the caller's
document goes on with the next verb.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta
from typing import TYPE_CHECKING

from callgate.core.call import CallOptions
from callgate.core.status import TERMINAL
from callgate.core.verbs import Dial, DialTarget
from callgate.engine.faces import RecordingRef
from callgate.engine.recordings import RecordingHandle
from callgate.engine.verbs import Goto, Step
from callgate.telephony.aio.media import bridge

log = logging.getLogger("callgate.engine")

if TYPE_CHECKING:
    from callgate.engine.runner import CallRunner
    from callgate.engine.session import Session


async def run(session: Session, verb: Dial) -> Step:
    from callgate.engine.runner import CallRunner

    engine, parent = session.engine, session.call
    if not verb.targets:
        return _after(session, verb, "failed", None, None)
    runners: list[CallRunner] = []
    for target in verb.targets:
        child = await engine.calls.create_child(
            parent,
            to=target.address,
            from_=verb.caller_id or parent.from_,
            options=_options(session, verb, target),
        )
        runner = CallRunner(engine, child, session.account)
        engine.running[child.id] = runner
        runners.append(runner)
        if engine.owner:  # the child holds a lease like its parent: a reaper finds it if we die
            now = engine.clock()
            await engine.store.claim_call(
                child.id, engine.owner, now, now + timedelta(seconds=engine.lease_s)
            )
    try:
        winner = await _first_to_answer(runners, verb.timeout_s)
        if winner is None:
            status = _dial_status(runners)
            return _after(session, verb, status, runners[0].call.id if len(runners) == 1 else None, None)
        recording: RecordingHandle | None = None
        ref: RecordingRef | None = None
        ended_by = "caller"  # unless the bridge says otherwise: the caller's side was torn down
        try:
            digits = _send_digits(verb, winner)
            if digits and winner.media is not None:
                await winner.media.press(digits)
            await _whisper(session, winner)
            if winner.leg is not None and winner.leg.remote_hangup.is_set():
                ended_by = "callee"  # the called party hung up during its whisper: nobody to connect
            else:
                recording = await _start_recording(session, verb)
                ended_by = await _bridged(session, verb, winner)
        finally:
            # Whatever happened (the caller hung up, the API ended the call), the called party goes too.
            ref = await asyncio.shield(_finish_recording(session, verb, recording))
            with contextlib.suppress(Exception):
                await asyncio.shield(winner.end(by=ended_by))
        call = winner.call
        return _after(session, verb, "completed", call.id, call.duration_s or 0, ref)
    finally:
        for runner in runners:
            engine.running.pop(runner.call.id, None)
            if runner.call.status in TERMINAL:
                with contextlib.suppress(Exception):
                    await asyncio.shield(engine.store.end_run(runner.call.id))


def _options(session: Session, verb: Dial, target: DialTarget) -> CallOptions:
    parent = session.call.options
    return CallOptions(
        url=target.url,
        method=target.method,
        status_callback=target.status_callback,
        status_callback_method=target.status_callback_method,
        status_callback_events=target.status_callback_events if target.status_callback else (),
        caller_id=verb.caller_id,
        timeout_s=verb.timeout_s,
        time_limit_s=verb.time_limit_s,
        sip_auth_username=target.username,
        sip_auth_password=target.password,
        dialect=parent.dialect,
    )


async def _whisper(session: Session, winner: CallRunner) -> None:
    """`<Number url>`: a document run on the called party once it answers, before it is connected
    (the caller hears ringing meanwhile: silence here). A <Hangup> in it ends the called leg."""
    from callgate.engine.session import Session

    options = winner.call.options
    if not options.url or winner.media is None or winner.leg is None:
        return
    whisper = Session(
        session.engine, winner.call, session.account, session.face, winner.media, winner.leg.remote_hangup
    )
    winner.session = whisper
    running = asyncio.ensure_future(whisper.run_for_hangup(Goto(options.url, options.method, kind="voice")))
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


def _send_digits(verb: Dial, winner: CallRunner) -> str | None:
    for target in verb.targets:
        if target.address == winner.call.to and target.send_digits:
            return target.send_digits
    return None


async def _first_to_answer(runners: list[CallRunner], timeout_s: int) -> CallRunner | None:
    tasks = {asyncio.ensure_future(r.connect(timeout_s)): r for r in runners}
    winner: CallRunner | None = None
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


def _dial_status(runners: list[CallRunner]) -> str:
    """The outcome of a dial nobody answered: busy if every party was busy, else the first's status."""
    statuses = [r.call.status.value for r in runners]
    if len(set(statuses)) == 1:
        return statuses[0]
    return "no-answer" if "no-answer" in statuses else statuses[0]


async def _bridged(session: Session, verb: Dial, winner: CallRunner) -> str:
    """Connect the caller and the winner until one of them ends it; who or what ended it."""
    assert winner.media is not None and winner.leg is not None
    undo = bridge(session.media, winner.media)
    star = asyncio.Event()

    def on_digit(key: str) -> None:
        if key == "*":
            star.set()

    if verb.hangup_on_star:
        session.digit_listeners.append(on_digit)
    waits = {
        asyncio.ensure_future(winner.leg.remote_hangup.wait()): "callee",
        asyncio.ensure_future(winner.ended_elsewhere.wait()): "api",  # the child hung up through the API
        asyncio.ensure_future(session.hung_up.wait()): "caller",
        asyncio.ensure_future(star.wait()): "star",
    }
    try:
        done, _ = await asyncio.wait(waits, timeout=verb.time_limit_s, return_when=asyncio.FIRST_COMPLETED)
        return waits[next(iter(done))] if done else "time-limit"
    finally:
        for task in waits:
            task.cancel()
        undo()
        if verb.hangup_on_star:
            session.digit_listeners.remove(on_digit)


async def _start_recording(session: Session, verb: Dial) -> RecordingHandle | None:
    """`record`: the bridged conversation, both parties (a channel each with the -dual variants).
    Recording starts at the answer, for record-from-ringing too (there is no ringing audio to keep)."""
    if verb.record == "do-not-record":
        return None
    engine = session.engine
    recording = engine.recordings.planned(
        session.call,
        source="DialVerb",
        channels="dual" if verb.record.endswith("-dual") else "mono",
        track="both",
        trim=False,
        folder=engine.recordings_dir,
    )
    return await engine.recordings.start(recording, session.media)


async def _finish_recording(
    session: Session, verb: Dial, handle: RecordingHandle | None
) -> RecordingRef | None:
    if handle is None:
        return None
    recording = await session.engine.recordings.finish(handle)
    if recording.status != "completed":
        return None
    ref = RecordingRef.of(recording)
    await session.recording_callback(
        verb.recording_status_callback,
        verb.recording_status_callback_method,
        verb.recording_status_callback_events,
        ref,
    )
    return ref


def _after(
    session: Session,
    verb: Dial,
    status: str,
    sid: object,
    duration: int | None,
    recording: RecordingRef | None = None,
) -> Step:
    if not verb.action:
        return None
    from uuid import UUID

    params = session.face.dial_action_params(
        session.call,
        dial_call_status=status,
        dial_call_sid=sid if isinstance(sid, UUID) else None,
        dial_call_duration=duration,
        recording=recording,
    )
    return Goto(session.absolute(verb.action), verb.method, tuple(params), kind="action")
