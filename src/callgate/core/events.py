"""Events in the life of a call, in the past tense.

Each event is a frozen dataclass. The call state machine (`callgate.core.status`) maps
event types to status changes; the store writes every event to the call's timeline.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class CallEvent:
    """Base class of every call event. `data` carries event-specific detail for the timeline."""

    data: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return type(self).__name__


@dataclass(frozen=True, slots=True)
class CallQueued(CallEvent):
    """The call was accepted through the API and waits for a worker."""


@dataclass(frozen=True, slots=True)
class CallInitiated(CallEvent):
    """A worker sent the INVITE."""


@dataclass(frozen=True, slots=True)
class CallRinging(CallEvent):
    """The far end is alerting (180/183)."""


@dataclass(frozen=True, slots=True)
class CallAnswered(CallEvent):
    """The far end answered (2xx)."""


@dataclass(frozen=True, slots=True)
class CallBusy(CallEvent):
    """The far end was busy (486/600)."""


@dataclass(frozen=True, slots=True)
class CallNotAnswered(CallEvent):
    """Nobody answered before the timeout, or the far end declined."""


@dataclass(frozen=True, slots=True)
class CallFailed(CallEvent):
    """The call could not be placed."""


@dataclass(frozen=True, slots=True)
class CallCanceled(CallEvent):
    """The call was canceled before it was answered."""


@dataclass(frozen=True, slots=True)
class CallEnded(CallEvent):
    """An answered call hung up, from either side or from the API."""


@dataclass(frozen=True, slots=True)
class CallUpdated(CallEvent):
    """Call-control parameters (document URL, callbacks, time limit) changed through the API."""


@dataclass(frozen=True, slots=True)
class CallSettled(CallEvent):
    """The worker wrote an ended call's last figures (quality, SIP code, price); the status stays."""


EVENT_TYPES: dict[str, type[CallEvent]] = {
    cls.__name__: cls
    for cls in (
        CallQueued,
        CallInitiated,
        CallRinging,
        CallAnswered,
        CallBusy,
        CallNotAnswered,
        CallFailed,
        CallCanceled,
        CallEnded,
        CallUpdated,
        CallSettled,
    )
}
