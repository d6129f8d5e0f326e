"""Which status callbacks an event causes, built inside the transaction that writes the event.

Twilio sends a call's status callbacks to its StatusCallback for the events named in
StatusCallbackEvent; without any, only `completed`. Every terminal status (busy, no-answer, failed,
canceled and completed) is the `completed` event, with CallStatus telling them apart.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from uuid import UUID

from callgate.core.call import Call
from callgate.core.events import (
    CallAnswered,
    CallBusy,
    CallCanceled,
    CallEnded,
    CallEvent,
    CallFailed,
    CallInitiated,
    CallNotAnswered,
    CallRinging,
    CallSettled,
)
from callgate.engine.faces import Face, Params, RecordingRef
from callgate.store.base import CallbacksFor, Outgoing

EVENT_NAMES: dict[type[CallEvent], str] = {
    CallInitiated: "initiated",
    CallRinging: "ringing",
    CallAnswered: "answered",
    CallBusy: "completed",
    CallNotAnswered: "completed",
    CallFailed: "completed",
    CallCanceled: "completed",
    CallEnded: "completed",
}


class StatusCallbacks:
    """Makes the `CallbacksFor` of an event: the outbox rows of the call's status callback."""

    def __init__(
        self,
        faces: Mapping[str, Face],
        *,
        clock: Callable[[], datetime],
        ids: Callable[[], UUID],
    ) -> None:
        self._faces = faces
        self._clock = clock
        self._ids = ids

    def __call__(self, event: CallEvent) -> CallbacksFor | None:
        if isinstance(event, CallSettled):
            # The call ended through the API while its recording was finishing: only the recording's.
            return lambda call, _sequence: self._recording(call, event)
        name = EVENT_NAMES.get(type(event))
        if name is None:
            return None

        def build(call: Call, sequence: int) -> Sequence[Outgoing]:
            return [*self._status(call, sequence, name, event), *self._recording(call, event)]

        return build

    def _recording(self, call: Call, event: CallEvent) -> Sequence[Outgoing]:
        """The RecordingStatusCallback of a call recorded from answer (Record=true), with its end."""
        recorded = event.data.get("recording")
        options = call.options
        face = self._faces.get(options.dialect)
        if not recorded or not options.recording_status_callback or face is None:
            return ()
        recording = RecordingRef.from_json(recorded)
        status = str(event.data.get("recording_status", "completed"))
        if status not in (options.recording_status_callback_events or ("completed",)):
            return ()
        now = self._clock()
        params = face.recording_status_params(call, recording=recording, status=status)
        method = options.recording_status_callback_method or "POST"
        url = options.recording_status_callback
        return (
            outgoing(
                call, kind="recording", url=url, method=method, params=params, at=now, item_id=self._ids()
            ),
        )

    def _status(self, call: Call, sequence: int, name: str, event: CallEvent) -> Sequence[Outgoing]:
        options = call.options
        if not options.status_callback:
            return ()
        wanted = options.status_callback_events or ("completed",)
        if name not in wanted:
            return ()
        face = self._faces.get(options.dialect)
        if face is None:
            return ()
        now = self._clock()
        recorded = event.data.get("recording")
        kept = event.data.get("recording_status", "completed") == "completed"
        recording = RecordingRef.from_json(recorded) if recorded and kept else None
        params = face.status_params(call, event=name, sequence=sequence, at=now, recording=recording)
        method = options.status_callback_method or "POST"
        url = options.status_callback
        return (
            outgoing(call, kind="status", url=url, method=method, params=params, at=now, item_id=self._ids()),
        )


def outgoing(
    call: Call, *, kind: str, url: str, method: str, params: Params, at: datetime, item_id: UUID
) -> Outgoing:
    """One callback of `call` for the outbox, due at once, shaped and signed later by its face."""
    return Outgoing(
        id=item_id,
        account_id=call.account_id,
        call_id=call.id,
        kind=kind,
        dialect=call.options.dialect,
        url=url,
        method=method,
        params=tuple(params),
        created_at=at,
        due_at=at,
    )
