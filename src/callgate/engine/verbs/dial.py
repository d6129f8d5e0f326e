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
from typing import TYPE_CHECKING
from uuid import UUID

from callgate.core.call import CallOptions
from callgate.core.verbs import Dial, DialTarget
from callgate.engine.verbs.base import CallContext, Goto, Party, RecordingRef, Step

if TYPE_CHECKING:
    from callgate.engine.verbs.base import RecordingHandle


async def run(ctx: CallContext, verb: Dial) -> Step:
    parent = ctx.call
    if not verb.targets:
        return _after(ctx, verb, "failed", None, None)
    parties = [Party(target.address, verb.caller_id or parent.from_, _options(ctx, verb, target))
               for target in verb.targets]  # fmt: skip
    async with ctx.children.place(parties) as attempt:
        winner = await attempt.first_to_answer(verb.timeout_s)
        if winner is None:
            calls = attempt.calls
            status = _dial_status([call.status.value for call in calls])
            return _after(ctx, verb, status, calls[0].id if len(calls) == 1 else None, None)
        recording: RecordingHandle | None = None
        ref: RecordingRef | None = None
        ended_by = "caller"  # unless the bridge says otherwise: the caller's side was torn down
        try:
            digits = _send_digits(verb, winner.call.to)
            if digits:
                await winner.press(digits)
            await winner.whisper()
            if winner.hung_up:
                ended_by = "callee"  # the called party hung up during its whisper: nobody to connect
            else:
                recording = await _start_recording(ctx, verb)
                ended_by = await winner.bridge(
                    time_limit_s=verb.time_limit_s, hangup_on_star=verb.hangup_on_star
                )
        finally:
            # Whatever happened (the caller hung up, the API ended the call), the called party goes too.
            ref = await asyncio.shield(_finish_recording(ctx, verb, recording))
            with contextlib.suppress(Exception):
                await asyncio.shield(winner.end(by=ended_by))
        call = winner.call
        return _after(ctx, verb, "completed", call.id, call.duration_s or 0, ref)


def _options(ctx: CallContext, verb: Dial, target: DialTarget) -> CallOptions:
    parent = ctx.call.options
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


def _send_digits(verb: Dial, to: str) -> str | None:
    for target in verb.targets:
        if target.address == to and target.send_digits:
            return target.send_digits
    return None


def _dial_status(statuses: list[str]) -> str:
    """The outcome of a dial nobody answered: busy if every party was busy, else the first's status."""
    if len(set(statuses)) == 1:
        return statuses[0]
    return "no-answer" if "no-answer" in statuses else statuses[0]


async def _start_recording(ctx: CallContext, verb: Dial) -> RecordingHandle | None:
    """`record`: the bridged conversation, both parties (a channel each with the -dual variants).
    Recording starts at the answer, for record-from-ringing too (there is no ringing audio to keep)."""
    if verb.record == "do-not-record":
        return None
    channels = "dual" if verb.record.endswith("-dual") else "mono"
    return await ctx.begin_recording(source="DialVerb", channels=channels, track="both", trim=False)


async def _finish_recording(
    ctx: CallContext, verb: Dial, handle: RecordingHandle | None
) -> RecordingRef | None:
    if handle is None:
        return None
    recording = await ctx.finish_recording(handle)
    if recording.status != "completed":
        return None
    ref = RecordingRef.of(recording)
    await ctx.recording_callback(
        verb.recording_status_callback,
        verb.recording_status_callback_method,
        verb.recording_status_callback_events,
        ref,
    )
    return ref


def _after(
    ctx: CallContext,
    verb: Dial,
    status: str,
    sid: UUID | None,
    duration: int | None,
    recording: RecordingRef | None = None,
) -> Step:
    if not verb.action:
        return None
    params = ctx.face.dial_action_params(
        ctx.call,
        dial_call_status=status,
        dial_call_sid=sid,
        dial_call_duration=duration,
        recording=recording,
    )
    return Goto(ctx.absolute(verb.action), verb.method, tuple(params), kind="action")
