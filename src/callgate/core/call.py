"""The neutral call, account and application records, and the commands that change them."""

from __future__ import annotations

import operator
from dataclasses import dataclass, field, fields, replace
from datetime import datetime
from typing import Any
from uuid import UUID

from callgate.core.status import CallStatus

API_VERSION = "2010-04-01"


@dataclass(frozen=True, slots=True)
class CallOptions:
    """How a call is placed and controlled: everything a create request can say, in neutral names.

    Durations carry their unit in the name. Lists are tuples so the record stays hashable.
    """

    url: str | None = None
    method: str = "POST"
    fallback_url: str | None = None
    fallback_method: str = "POST"
    markup: str | None = None
    application_id: UUID | None = None
    status_callback: str | None = None
    status_callback_method: str = "POST"
    status_callback_events: tuple[str, ...] = ()
    caller_id: str | None = None
    send_digits: str | None = None
    timeout_s: int = 60
    time_limit_s: int = 14400
    record: bool = False
    recording_channels: str = "mono"
    recording_track: str = "both"
    recording_status_callback: str | None = None
    recording_status_callback_method: str = "POST"
    recording_status_callback_events: tuple[str, ...] = ("completed",)
    trim: str = "trim-silence"
    sip_auth_username: str | None = None
    sip_auth_password: str | None = field(default=None, repr=False)
    machine_detection: str | None = None
    machine_detection_timeout_s: int = 30
    machine_detection_speech_threshold_ms: int = 2400
    machine_detection_speech_end_threshold_ms: int = 1200
    machine_detection_silence_timeout_ms: int = 5000
    #: SignalWire's MachineWordsThreshold (its face fills in its default, 6); None: words are not counted
    machine_words_threshold: int | None = None
    async_amd: bool = False
    async_amd_status_callback: str | None = None
    async_amd_status_callback_method: str = "POST"
    async_amd_partial_results: bool = False
    byoc: str | None = None
    call_reason: str | None = None
    call_token: str | None = None
    client_notification_url: str | None = None
    max_price_per_minute: str | None = None
    #: the face the call was created through: its webhooks are signed and shaped that way
    dialect: str = "twilio"

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict of every option (UUIDs as strings, tuples as lists).

        Every option is stored, defaults included, so a default changed in a later version never
        changes a call already made.
        """
        out = dict(zip(_OPTION_NAMES, _option_values(self), strict=True))
        if self.application_id is not None:
            out["application_id"] = str(self.application_id)
        out["status_callback_events"] = list(self.status_callback_events)
        out["recording_status_callback_events"] = list(self.recording_status_callback_events)
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CallOptions:
        """The inverse of `to_json`; unknown keys (from a newer version) are ignored."""
        known = {f.name: f for f in fields(cls)}
        kwargs: dict[str, Any] = {}
        for key, value in data.items():
            if key not in known:
                continue
            if key == "application_id" and value is not None:
                value = UUID(value)
            elif isinstance(value, list):
                value = tuple(value)
            kwargs[key] = value
        return cls(**kwargs)

    def merged(self, **changes: Any) -> CallOptions:
        return replace(self, **changes)


_OPTION_NAMES: tuple[str, ...] = tuple(f.name for f in fields(CallOptions))
_option_values = operator.attrgetter(*_OPTION_NAMES)  # every option's value, in one C call


@dataclass(frozen=True, slots=True)
class CallQuality:
    """Audio quality measured from RTCP; None until measured."""

    audio_in_mos: float | None = None
    audio_rtt_avg_ms: int | None = None
    audio_rtt_min_ms: int | None = None
    audio_rtt_max_ms: int | None = None
    audio_out_jitter_min_ms: int | None = None
    audio_out_jitter_max_ms: int | None = None
    audio_out_jitter_avg_ms: int | None = None
    audio_out_lost: int | None = None


NOT_MEASURED = CallQuality()


@dataclass(frozen=True, slots=True)
class Call:
    """One call as stored. `seq` orders calls; it is assigned by the store."""

    id: UUID
    account_id: UUID
    to: str
    from_: str
    status: CallStatus
    created_at: datetime
    updated_at: datetime
    options: CallOptions
    direction: str = "outbound-api"
    parent_call_id: UUID | None = None
    start_time: datetime | None = None
    end_time: datetime | None = None
    duration_s: int | None = None
    price: str | None = None
    price_unit: str = "USD"
    answered_by: str | None = None
    api_version: str = API_VERSION
    queue_time_ms: int = 0
    sip_call_id: str | None = None
    sip_result_code: int | None = None
    quality: CallQuality = NOT_MEASURED
    seq: int | None = None
    #: bumped by the store on every update; an update names the version it read
    version: int = 0


@dataclass(frozen=True, slots=True)
class Account:
    """One account with its three faces: Twilio, SignalWire and Bandwidth credentials."""

    id: UUID
    name: str
    created_at: datetime
    auth_token: str = field(repr=False)
    signalwire_token: str = field(repr=False)
    bandwidth_account_id: str
    bandwidth_username: str
    bandwidth_password: str = field(repr=False)
    #: SignalWire signs webhooks with the project's Signing Key (not its API token)
    signalwire_signing_key: str | None = field(default=None, repr=False)

    @property
    def webhook_signing_key(self) -> str:
        return self.signalwire_signing_key or self.signalwire_token


@dataclass(frozen=True, slots=True)
class Application:
    """A stored set of voice URLs that a call can name instead of its own Url."""

    id: UUID
    account_id: UUID
    created_at: datetime
    updated_at: datetime
    friendly_name: str | None = None
    api_version: str = API_VERSION
    voice_url: str | None = None
    voice_method: str = "POST"
    voice_fallback_url: str | None = None
    voice_fallback_method: str = "POST"
    status_callback: str | None = None
    status_callback_method: str = "POST"
    voice_caller_id_lookup: bool = False
    sms_url: str | None = None
    sms_method: str = "POST"
    sms_fallback_url: str | None = None
    sms_fallback_method: str = "POST"
    sms_status_callback: str | None = None
    message_status_callback: str | None = None
    public_application_connect_enabled: bool = False
    seq: int | None = None
    version: int = 0


APPLICATION_FIELDS: tuple[str, ...] = tuple(
    f.name
    for f in fields(Application)
    if f.name not in {"id", "account_id", "created_at", "updated_at", "seq", "version"}
)


@dataclass(frozen=True, slots=True)
class CreateCall:
    """Place an outbound call."""

    to: str
    from_: str
    options: CallOptions


@dataclass(frozen=True, slots=True)
class UpdateCall:
    """Change a live call: end it, or change what it runs and where it reports."""

    status: CallStatus | None = None
    changes: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class CallFilter:
    """List filters. Times are inclusive bounds on the call's start/end time."""

    to: str | None = None
    from_: str | None = None
    parent_call_id: UUID | None = None
    status: CallStatus | None = None
    start_after: datetime | None = None
    start_before: datetime | None = None
    end_after: datetime | None = None
    end_before: datetime | None = None
