import pytest

from callgate.core import events
from callgate.core.status import LIVE, TERMINAL, TRANSITIONS, CallStatus, InvalidTransition, next_status


def test_wire_values_are_the_vendor_strings():
    assert {s.value for s in CallStatus} == {
        "queued",
        "ringing",
        "in-progress",
        "completed",
        "busy",
        "failed",
        "no-answer",
        "canceled",
    }


def test_terminal_set_is_exactly_the_ended_statuses():
    assert TERMINAL == {
        CallStatus.COMPLETED,
        CallStatus.BUSY,
        CallStatus.FAILED,
        CallStatus.NO_ANSWER,
        CallStatus.CANCELED,
    }
    assert LIVE == {CallStatus.QUEUED, CallStatus.RINGING, CallStatus.IN_PROGRESS}


def test_every_status_has_a_row():
    assert set(TRANSITIONS) == set(CallStatus)


@pytest.mark.parametrize(
    ("status", "event", "expected"),
    [
        (CallStatus.QUEUED, events.CallRinging, CallStatus.RINGING),
        (CallStatus.QUEUED, events.CallAnswered, CallStatus.IN_PROGRESS),
        (CallStatus.QUEUED, events.CallCanceled, CallStatus.CANCELED),
        (CallStatus.QUEUED, events.CallFailed, CallStatus.FAILED),
        (CallStatus.RINGING, events.CallAnswered, CallStatus.IN_PROGRESS),
        (CallStatus.RINGING, events.CallBusy, CallStatus.BUSY),
        (CallStatus.RINGING, events.CallNotAnswered, CallStatus.NO_ANSWER),
        (CallStatus.RINGING, events.CallCanceled, CallStatus.CANCELED),
        (CallStatus.IN_PROGRESS, events.CallEnded, CallStatus.COMPLETED),
        (CallStatus.IN_PROGRESS, events.CallUpdated, CallStatus.IN_PROGRESS),
    ],
)
def test_legal_moves(status, event, expected):
    assert next_status(status, event()) is expected
    assert next_status(status, event) is expected


@pytest.mark.parametrize(
    ("status", "event"),
    [
        (CallStatus.IN_PROGRESS, events.CallCanceled),
        (CallStatus.IN_PROGRESS, events.CallRinging),
        (CallStatus.QUEUED, events.CallEnded),
        (CallStatus.RINGING, events.CallEnded),
    ],
)
def test_illegal_moves_raise(status, event):
    with pytest.raises(InvalidTransition) as info:
        next_status(status, event())
    assert info.value.status is status
    assert event.__name__ in str(info.value)


@pytest.mark.parametrize("status", sorted(TERMINAL))
@pytest.mark.parametrize("event", sorted(events.EVENT_TYPES.values(), key=lambda e: e.__name__))
def test_terminal_statuses_accept_nothing_but_the_settling(status, event):
    if event is events.CallSettled:
        assert next_status(status, event()) is status
        return
    with pytest.raises(InvalidTransition):
        next_status(status, event())
