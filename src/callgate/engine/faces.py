"""What the engine needs from a dialect to talk to a user's application: the face a call was made through.

The engine is dialect-free. Each face (Twilio, SignalWire, ...) tells it how that vendor parses its
markup, which form parameters its webhooks carry and how it signs them; the composition root
(`callgate.app`) hands the engine one `Face` per dialect name, and a call uses the face named in its
options (`CallOptions.dialect`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol
from uuid import UUID

from callgate.core.call import Account, Call
from callgate.core.notices import Notice
from callgate.core.verbs import Document
from callgate.store.base import Recording

Params = list[tuple[str, str]]


@dataclass(frozen=True, slots=True)
class Notification:
    """A notice as a dialect reports it: its code, message and level."""

    code: int
    message: str
    level: str


@dataclass(frozen=True, slots=True)
class RecordingRef:
    """A finished recording, as webhooks describe it."""

    id: UUID
    duration_s: int
    channels: int = 1
    track: str = "both"
    source: str = "OutboundAPI"
    start_time: datetime | None = None

    @classmethod
    def of(cls, recording: Recording) -> RecordingRef:
        """The reference to a finished (completed) recording."""
        return cls(
            id=recording.id,
            duration_s=recording.duration_s or 0,
            channels=recording.channels,
            track=recording.track,
            source=recording.source,
            start_time=recording.start_time,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "duration_s": self.duration_s,
            "channels": self.channels,
            "track": self.track,
            "source": self.source,
            "start_time": None if self.start_time is None else self.start_time.isoformat(),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RecordingRef:
        start = data.get("start_time")
        return cls(
            id=UUID(data["id"]),
            duration_s=int(data["duration_s"]),
            channels=int(data.get("channels", 1)),
            track=str(data.get("track", "both")),
            source=str(data.get("source", "OutboundAPI")),
            start_time=None if start is None else datetime.fromisoformat(start),
        )


class Face(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def status_events(self) -> Sequence[str]:
        """The status callback events the face knows, in the order they happen."""
        ...

    def parse(self, text: str | bytes) -> Document: ...
    def voice_params(self, call: Call) -> Params: ...
    def status_params(
        self, call: Call, *, event: str, sequence: int, at: datetime, recording: RecordingRef | None = None
    ) -> Params: ...
    def record_action_params(self, call: Call, *, recording: RecordingRef, digits: str | None) -> Params: ...
    def recording_status_params(self, call: Call, *, recording: RecordingRef, status: str) -> Params: ...
    def amd_params(self, call: Call, *, answered_by: str, detection_duration_ms: int) -> Params: ...
    def gather_params(self, call: Call, *, digits: str, finished_on_key: str | None) -> Params: ...
    def dial_action_params(
        self,
        call: Call,
        *,
        dial_call_status: str,
        dial_call_sid: UUID | None,
        dial_call_duration: int | None,
        recording: RecordingRef | None = None,
    ) -> Params: ...
    def fallback_params(self, params: Params, *, error: Notice, error_url: str) -> Params:
        """The parameters of the request to the fallback URL after `error` on `error_url`."""
        ...

    def notification(self, notice: Notice) -> Notification:
        """`notice` in the dialect's own terms, as it is stored and reported."""
        ...

    def sign(
        self, account: Account, url: str, params: Sequence[tuple[str, str]] | None
    ) -> dict[str, str]: ...
    def call_sid(self, call_id: UUID) -> str: ...
