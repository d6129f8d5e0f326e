"""The form parameters of every webhook Callgate sends, per dialect (Twilio, SignalWire).

Each function returns `list[tuple[str, str]]` in a stable order; the sender form-encodes it (or puts it
in the query string for GET) and signs it. A parameter whose value Callgate does not know is left out,
except where the vendor is seen to send it empty. Where each rule comes from:

Standard request parameters (`call_params`)
    Twilio: the "TwiML Voice: Twilio's Request" / "Voice Webhooks" pages list CallSid, AccountSid, From,
    To, CallStatus, ApiVersion, Direction, ForwardedFrom, CallerName, ParentCallSid and CallToken, plus
    the geographic City/State/Zip/Country of From and To; the 2008 edition of that page names the
    Called/Caller pair and its Called*/Caller* geography, which Twilio still sends. Captured Twilio
    callbacks quoted in public repositories (an outbound-api busy call to a +260 number, a completed one
    to +55) show the whole geographic block present with empty City/State/Zip and the ISO country code
    filled in; Callgate has no geographic database, so it sends exactly that shape for phone numbers.
    A `client:` party has no geography (a captured client call has none), and neither has a `sip:` URI.
    ForwardedFrom and CallerName concern inbound carrier calls and caller-name lookup; CallToken only
    inbound PSTN calls: a `Call` record holds none of them, so they are never sent. ParentCallSid only
    for a child leg.
    SignalWire: the "Voice XML" (cXML request parameters) page lists CallSid, AccountSid, From, To,
    CallStatus, ApiVersion, Direction, ForwardedFrom, CallerName and ParentCallSid: no Called/Caller,
    no geography (the captured SignalWire bodies in the signalwire-python request-validator tests have
    none either). Direction is Twilio's `outbound-api`/`outbound-dial`/`inbound` in both dialects (the
    SignalWire "Voice status callback" page and those captured bodies), not the REST resource's
    `outbound`.

Voice URL fetch (`voice_params`)
    The standard parameters, plus AnsweredBy once machine detection has decided ("Answering Machine
    Detection" page, Twilio; SignalWire documents the same parameter).

Status callbacks (`status_callback_params`)
    Twilio: the Call resource's StatusCallbackEvent section and the support article "Tracking the Status
    of an Outbound Twilio Voice Call": CallStatus is `initiated`, `ringing`, `in-progress` (for the
    `answered` event) or the final status; every callback adds CallbackSource=call-progress-events,
    Timestamp (RFC 2822, `+0000`) and SequenceNumber (from 0). The final callback adds CallDuration
    (seconds) and Duration (minutes, rounded up), both "0" on busy/no-answer/failed/canceled, and
    SipResponseCode: captured bodies (somleng-switch issue 7: no-answer with 0/0/487; the busy call
    above with 0/0/486; the completed call above with CallDuration 49 and Duration 1). RecordingUrl,
    RecordingSid and RecordingDuration when the call was recorded (Call resource page). A captured
    completed callback of an AMD call carries AnsweredBy.
    SignalWire: the "Voice status callback" webhook page: the same CallbackSource, Timestamp and
    SequenceNumber; CallDuration only on a completed call (the captured busy/no-answer bodies have
    none); the SIP code is SipResultCode; Recording* as for Twilio; AudioInMos once measured. Its
    StatusCallbackEvent list (the seed) adds ringing_forwarded and ringing_queued, reported here as
    CallStatus `ringing`.

Gather action (`gather_params`)
    Twilio "TwiML Voice: <Gather>": Digits. Captured Gather action bodies also carry FinishedOnKey (the
    key, empty when the gather ended without one) and msg=Gather End. SignalWire "Gather": Digits only.

Dial action (`dial_action_params`)
    Twilio "TwiML Voice: <Dial>": DialCallStatus, DialCallSid, DialCallDuration, DialBridged and, for a
    recorded dial, RecordingUrl. SignalWire "Dial": the same without DialBridged.

Record action (`record_action_params`)
    Twilio "TwiML Voice: <Record>" and SignalWire "Record": RecordingUrl, RecordingDuration, RecordingSid
    and Digits (the key that ended the recording, or `hangup` when the caller hung up).

Recording status callback (`recording_status_params`)
    Twilio "Voice Webhooks", recording status callbacks: AccountSid, CallSid, RecordingSid, RecordingUrl,
    RecordingStatus, RecordingDuration, RecordingChannels, RecordingStartTime, RecordingSource,
    RecordingTrack and ErrorCode. Only these: no standard call parameters. SignalWire "Recording status
    callback" page: AccountSid, CallSid, RecordingSid, RecordingUrl, RecordingStatus, RecordingDuration,
    RecordingChannels, RecordingSource.

Fallback URL (`fallback_params`)
    Twilio "TwiML Voice: Twilio's Request" (fallback): the original parameters plus ErrorCode and
    ErrorUrl.

Asynchronous AMD callback (`amd_params`)
    Twilio "Answering Machine Detection": CallSid, AccountSid, AnsweredBy, MachineDetectionDuration (ms).

Recording sids are `RE` + 32 hex digits on Twilio and the UUID on SignalWire; a RecordingUrl is the
Recording resource's address without an extension (`recording_url`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

import phonenumbers

from callgate.core.call import Call
from callgate.core.status import CallStatus
from callgate.dialects.twilio.addresses import phone_number
from callgate.dialects.twilio.flavor import Flavor, prefixed_sid
from callgate.dialects.twilio.render import account_path, rfc2822

Params = list[tuple[str, str]]

CALLBACK_SOURCE = "call-progress-events"
GATHER_END = "Gather End"

#: the CallStatus each status-callback event reports; `completed` reports the call's final status
_EVENT_STATUS = {
    "initiated": "initiated",
    "ringing": "ringing",
    "answered": "in-progress",
    "ringing_forwarded": "ringing",
    "ringing_queued": "ringing",
}


@dataclass(frozen=True, slots=True)
class RecordingInfo:
    """A finished (or started) recording as the webhooks describe it. `url` is the RecordingUrl sent."""

    id: UUID
    duration_s: int
    url: str
    channels: int = 1
    start_time: datetime | None = None
    #: inbound, outbound or both
    track: str = "both"


@dataclass(frozen=True, slots=True)
class _Dialect:
    """What differs between the two faces' webhooks (see the module docstring for the sources)."""

    render_recording: Callable[[UUID], str]
    #: Called/Caller and the City/State/Zip/Country block
    legacy_and_geography: bool
    sip_code_param: str
    #: CallDuration on every final callback (Twilio), or only on a completed call (SignalWire)
    duration_on_every_final: bool
    #: Twilio's Duration: whole minutes, rounded up
    duration_minutes: bool
    #: FinishedOnKey and msg on the Gather action
    gather_end: bool
    dial_bridged: bool
    #: RecordingStartTime, RecordingTrack and ErrorCode on the recording status callback
    recording_details: bool
    audio_in_mos: bool


_DIALECTS = {
    "twilio": _Dialect(
        render_recording=prefixed_sid("RE")[0],
        legacy_and_geography=True,
        sip_code_param="SipResponseCode",
        duration_on_every_final=True,
        duration_minutes=True,
        gather_end=True,
        dial_bridged=True,
        recording_details=True,
        audio_in_mos=False,
    ),
    "signalwire": _Dialect(
        render_recording=str,
        legacy_and_geography=False,
        sip_code_param="SipResultCode",
        duration_on_every_final=False,
        duration_minutes=False,
        gather_end=False,
        dial_bridged=False,
        recording_details=False,
        audio_in_mos=True,
    ),
}


def _dialect(flavor: Flavor) -> _Dialect:
    try:
        return _DIALECTS[flavor.name]
    except KeyError:
        raise ValueError(f"no webhook rules for the {flavor.name!r} flavor") from None


def recording_sid(flavor: Flavor, recording_id: UUID) -> str:
    """`RE` + 32 hex digits (Twilio) or the UUID (SignalWire)."""
    return _dialect(flavor).render_recording(recording_id)


def recording_url(flavor: Flavor, account_id: UUID, recording_id: UUID, *, base_url: str) -> str:
    """The RecordingUrl: the Recording resource's absolute address, without an extension."""
    sid = recording_sid(flavor, recording_id)
    return f"{base_url.rstrip('/')}{account_path(flavor, account_id)}/Recordings/{sid}"


def _country(address: str) -> str:
    """The ISO 3166 code of a phone number's country, or "" for a non-geographic number."""
    number = phone_number(address)
    region = None if number is None else phonenumbers.region_code_for_number(number)
    return region if region and region.isalpha() and region != "ZZ" else ""


def _geography(prefix: str, address: str) -> Params:
    # Twilio sends City/State/Zip empty when its lookup finds nothing; Callgate never knows them.
    return [
        (f"{prefix}City", ""),
        (f"{prefix}State", ""),
        (f"{prefix}Zip", ""),
        (f"{prefix}Country", _country(address)),
    ]


def _is_phone(address: str) -> bool:
    return phone_number(address) is not None


def call_params(call: Call, flavor: Flavor, *, status: str | None = None) -> Params:
    """The standard parameters every voice webhook carries. `status` overrides CallStatus."""
    rules = _dialect(flavor)
    params: Params = [
        ("CallSid", flavor.render_call(call.id)),
        ("AccountSid", flavor.render_account(call.account_id)),
        ("From", call.from_),
        ("To", call.to),
        ("CallStatus", call.status.value if status is None else status),
        ("ApiVersion", call.api_version),
        ("Direction", call.direction),
    ]
    if call.parent_call_id is not None:
        params.append(("ParentCallSid", flavor.render_call(call.parent_call_id)))
    if rules.legacy_and_geography:
        params.append(("Called", call.to))
        if _is_phone(call.to):
            params += _geography("Called", call.to)
        params.append(("Caller", call.from_))
        if _is_phone(call.from_):
            params += _geography("Caller", call.from_)
            params += _geography("From", call.from_)
        if _is_phone(call.to):
            params += _geography("To", call.to)
    return params


def _answered_by(call: Call) -> Params:
    return [] if call.answered_by is None else [("AnsweredBy", call.answered_by)]


def _recording(recording: RecordingInfo, flavor: Flavor) -> Params:
    return [
        ("RecordingUrl", recording.url),
        ("RecordingSid", recording_sid(flavor, recording.id)),
        ("RecordingDuration", str(recording.duration_s)),
    ]


def voice_params(call: Call, flavor: Flavor) -> Params:
    """What the fetch of the voice Url (and of a Redirect without an action) carries."""
    return call_params(call, flavor) + _answered_by(call)


def status_callback_params(
    call: Call,
    flavor: Flavor,
    *,
    event: str,
    sequence_number: int,
    timestamp: datetime,
    recording: RecordingInfo | None = None,
) -> Params:
    """One call-progress callback: `event` is a StatusCallbackEvent value of `flavor`.

    For `completed`, the call must already hold its final status, duration and SIP code.
    """
    if event not in flavor.status_callback_events:
        raise ValueError(f"{event!r} is not a {flavor.name} StatusCallbackEvent")
    rules = _dialect(flavor)
    final = event == "completed"
    status = call.status.value if final else _EVENT_STATUS[event]
    params = call_params(call, flavor, status=status) + _answered_by(call)
    params += [
        ("Timestamp", rfc2822(timestamp) or ""),
        ("CallbackSource", CALLBACK_SOURCE),
        ("SequenceNumber", str(sequence_number)),
    ]
    if not final:
        return params
    duration_s = call.duration_s or 0
    if rules.duration_on_every_final or call.status is CallStatus.COMPLETED:
        params.append(("CallDuration", str(duration_s)))
    if rules.duration_minutes:
        params.append(("Duration", str(math.ceil(duration_s / 60))))
    if call.sip_result_code is not None:
        params.append((rules.sip_code_param, str(call.sip_result_code)))
    if rules.audio_in_mos and call.quality.audio_in_mos is not None:
        params.append(("AudioInMos", str(call.quality.audio_in_mos)))
    if recording is not None:
        params += _recording(recording, flavor)
    return params


def gather_params(call: Call, flavor: Flavor, *, digits: str, finished_on_key: str | None) -> Params:
    """The Gather action request: the digits collected and the key that ended them (None: none did)."""
    params = call_params(call, flavor) + [("Digits", digits)]
    if _dialect(flavor).gather_end:
        params += [("FinishedOnKey", finished_on_key or ""), ("msg", GATHER_END)]
    return params


def dial_action_params(
    call: Call,
    flavor: Flavor,
    *,
    dial_call_status: str,
    dial_call_sid: UUID | None,
    dial_call_duration: int | None,
    recording: RecordingInfo | None = None,
    dial_bridged: bool | None = None,
) -> Params:
    """The Dial action request, made on the parent call when the dialed leg ends.

    `dial_call_sid` and `dial_call_duration` are None when no child call was placed or answered.
    """
    params = call_params(call, flavor) + [("DialCallStatus", dial_call_status)]
    if dial_call_sid is not None:
        params.append(("DialCallSid", flavor.render_call(dial_call_sid)))
    if dial_call_duration is not None:
        params.append(("DialCallDuration", str(dial_call_duration)))
    if dial_bridged is not None and _dialect(flavor).dial_bridged:
        params.append(("DialBridged", "true" if dial_bridged else "false"))
    if recording is not None:
        params.append(("RecordingUrl", recording.url))
    return params


def record_action_params(
    call: Call, flavor: Flavor, *, recording: RecordingInfo, digits: str | None
) -> Params:
    """The Record action request. `digits` is the finishing key, "hangup", or None (timeout/max length)."""
    params = call_params(call, flavor) + _recording(recording, flavor)
    if digits is not None:
        params.append(("Digits", digits))
    return params


def recording_status_params(
    call: Call,
    flavor: Flavor,
    *,
    recording: RecordingInfo,
    status: str,
    source: str,
    error_code: int | None = None,
) -> Params:
    """A RecordingStatusCallback request. `source` is e.g. OutboundAPI, DialVerb or RecordVerb."""
    rules = _dialect(flavor)
    params: Params = [
        ("AccountSid", flavor.render_account(call.account_id)),
        ("CallSid", flavor.render_call(call.id)),
        ("RecordingSid", recording_sid(flavor, recording.id)),
        ("RecordingUrl", recording.url),
        ("RecordingStatus", status),
        ("RecordingDuration", str(recording.duration_s)),
        ("RecordingChannels", str(recording.channels)),
    ]
    if rules.recording_details and recording.start_time is not None:
        params.append(("RecordingStartTime", rfc2822(recording.start_time) or ""))
    params.append(("RecordingSource", source))
    if rules.recording_details:
        params.append(("RecordingTrack", recording.track))
        if error_code is not None:
            params.append(("ErrorCode", str(error_code)))
    return params


def fallback_params(base_params: Params, *, error_code: int, error_url: str) -> Params:
    """The request to a FallbackUrl: what the failed request carried, plus why and where it failed."""
    return [*base_params, ("ErrorCode", str(error_code)), ("ErrorUrl", error_url)]


def amd_params(call: Call, flavor: Flavor, *, answered_by: str, detection_duration_ms: int) -> Params:
    """The AsyncAmdStatusCallback request."""
    return [
        ("CallSid", flavor.render_call(call.id)),
        ("AccountSid", flavor.render_account(call.account_id)),
        ("AnsweredBy", answered_by),
        ("MachineDetectionDuration", str(detection_duration_ms)),
    ]
