"""The Twilio and SignalWire faces the engine talks through: TwiML/LaML, webhook parameters, signing."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from callgate.core.call import Account, Call
from callgate.core.notices import Notice
from callgate.core.verbs import Document
from callgate.dialects.twilio import notices, webhook
from callgate.dialects.twilio.flavor import Flavor
from callgate.dialects.twilio.twiml import parse_document
from callgate.engine.faces import Notification, RecordingRef
from callgate.webhooks.signature import signature_headers

Params = list[tuple[str, str]]


@dataclass(frozen=True, eq=False)
class CompatFace:
    """The engine's view of one 2010-04-01 face (Twilio or SignalWire)."""

    flavor: Flavor
    #: the public base URL recording URLs are built on
    base_url: str = "http://127.0.0.1:8080"

    @property
    def name(self) -> str:
        return self.flavor.name

    @property
    def status_events(self) -> Sequence[str]:
        return self.flavor.status_callback_events

    def parse(self, text: str | bytes) -> Document:
        return parse_document(text, dialect=self.flavor.name)

    def voice_params(self, call: Call) -> Params:
        return webhook.voice_params(call, self.flavor)

    def status_params(
        self, call: Call, *, event: str, sequence: int, at: datetime, recording: RecordingRef | None = None
    ) -> Params:
        return webhook.status_callback_params(
            call,
            self.flavor,
            event=event,
            sequence_number=sequence,
            timestamp=at,
            recording=None if recording is None else self._info(call, recording),
        )

    def _info(self, call: Call, recording: RecordingRef) -> webhook.RecordingInfo:
        url = webhook.recording_url(self.flavor, call.account_id, recording.id, base_url=self.base_url)
        return webhook.RecordingInfo(
            id=recording.id,
            duration_s=recording.duration_s,
            url=url,
            channels=recording.channels,
            start_time=recording.start_time,
            track=recording.track,
        )

    def record_action_params(self, call: Call, *, recording: RecordingRef, digits: str | None) -> Params:
        return webhook.record_action_params(
            call, self.flavor, recording=self._info(call, recording), digits=digits
        )

    def recording_status_params(self, call: Call, *, recording: RecordingRef, status: str) -> Params:
        return webhook.recording_status_params(
            call, self.flavor, recording=self._info(call, recording), status=status, source=recording.source
        )

    def amd_params(self, call: Call, *, answered_by: str, detection_duration_ms: int) -> Params:
        return webhook.amd_params(
            call, self.flavor, answered_by=answered_by, detection_duration_ms=detection_duration_ms
        )

    def gather_params(self, call: Call, *, digits: str, finished_on_key: str | None) -> Params:
        return webhook.gather_params(call, self.flavor, digits=digits, finished_on_key=finished_on_key)

    def dial_action_params(
        self,
        call: Call,
        *,
        dial_call_status: str,
        dial_call_sid: UUID | None,
        dial_call_duration: int | None,
        recording: RecordingRef | None = None,
    ) -> Params:
        return webhook.dial_action_params(
            call,
            self.flavor,
            dial_call_status=dial_call_status,
            dial_call_sid=dial_call_sid,
            dial_call_duration=dial_call_duration,
            recording=None if recording is None else self._info(call, recording),
            dial_bridged=dial_call_status == "completed",
        )

    def fallback_params(self, params: Params, *, error: Notice, error_url: str) -> Params:
        return webhook.fallback_params(params, error_code=notices.code(error), error_url=error_url)

    def notification(self, notice: Notice) -> Notification:
        return notices.notification(notice)

    def sign(self, account: Account, url: str, params: Sequence[tuple[str, str]] | None) -> dict[str, str]:
        key = account.webhook_signing_key if self.flavor.name == "signalwire" else account.auth_token
        return signature_headers(self.flavor.name, url, params, key)

    def call_sid(self, call_id: UUID) -> str:
        return self.flavor.render_call(call_id)
