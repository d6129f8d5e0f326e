"""The call state machine.

Theory of operation: a call is born `queued` when the API accepts it. A worker dials it; the
far end may ring (`ringing`) and answer (`in-progress`), or the attempt ends as `busy`,
`no-answer`, `failed` or `canceled`. An answered call ends as `completed`. Everything that
affects a call's status lives in this file: `TRANSITIONS` maps each status to the events it
accepts and the status each event leads to; an event missing from a status's row is an illegal
move and raises `InvalidTransition`. Statuses in `TERMINAL` accept no event that changes them; the
only event they take is `CallSettled`, the worker's last figures for a call that has already ended
(ended through the API while the worker was hanging up, say). Events that only annotate the
timeline (`CallUpdated`, `CallInitiated`, `CallSettled`) map a status to itself.
"""

from __future__ import annotations

from enum import StrEnum

from callgate.core.events import (
    CallAnswered,
    CallBusy,
    CallCanceled,
    CallEnded,
    CallEvent,
    CallFailed,
    CallInitiated,
    CallNotAnswered,
    CallQueued,
    CallRinging,
    CallSettled,
    CallUpdated,
)


class CallStatus(StrEnum):
    """Call statuses; the values are the wire strings shared by Twilio and SignalWire."""

    QUEUED = "queued"
    RINGING = "ringing"
    IN_PROGRESS = "in-progress"
    COMPLETED = "completed"
    BUSY = "busy"
    FAILED = "failed"
    NO_ANSWER = "no-answer"
    CANCELED = "canceled"


class InvalidTransition(Exception):
    """An event arrived that the call's current status does not accept."""

    def __init__(self, status: CallStatus, event: type[CallEvent]) -> None:
        super().__init__(f"a {status.value} call cannot take {event.__name__}")
        self.status = status
        self.event = event


S = CallStatus

TRANSITIONS: dict[CallStatus, dict[type[CallEvent], CallStatus]] = {
    S.QUEUED: {
        CallQueued: S.QUEUED,
        CallInitiated: S.QUEUED,
        CallUpdated: S.QUEUED,
        CallRinging: S.RINGING,
        CallAnswered: S.IN_PROGRESS,
        CallBusy: S.BUSY,
        CallNotAnswered: S.NO_ANSWER,
        CallFailed: S.FAILED,
        CallCanceled: S.CANCELED,
    },
    S.RINGING: {
        CallRinging: S.RINGING,
        CallUpdated: S.RINGING,
        CallAnswered: S.IN_PROGRESS,
        CallBusy: S.BUSY,
        CallNotAnswered: S.NO_ANSWER,
        CallFailed: S.FAILED,
        CallCanceled: S.CANCELED,
    },
    S.IN_PROGRESS: {
        CallUpdated: S.IN_PROGRESS,
        CallEnded: S.COMPLETED,
    },
    S.COMPLETED: {CallSettled: S.COMPLETED},
    S.BUSY: {CallSettled: S.BUSY},
    S.FAILED: {CallSettled: S.FAILED},
    S.NO_ANSWER: {CallSettled: S.NO_ANSWER},
    S.CANCELED: {CallSettled: S.CANCELED},
}

TERMINAL: frozenset[CallStatus] = frozenset(
    status for status, row in TRANSITIONS.items() if all(to is status for to in row.values())
)
LIVE: frozenset[CallStatus] = frozenset(CallStatus) - TERMINAL


def next_status(status: CallStatus, event: CallEvent | type[CallEvent]) -> CallStatus:
    """The status a call in `status` moves to on `event`; raises `InvalidTransition`."""
    event_type = event if isinstance(event, type) else type(event)
    try:
        return TRANSITIONS[status][event_type]
    except KeyError:
        raise InvalidTransition(status, event_type) from None
