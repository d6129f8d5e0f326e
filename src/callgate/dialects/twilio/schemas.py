"""The request parameters of each operation, from Twilio's OpenAPI and SignalWire's Create Call page.

Each table is the single source for validation and for the served OpenAPI document. Error codes
follow Twilio's error dictionary (docs/COMPATIBILITY.md lists them with the cases they cover).
"""

from __future__ import annotations

import re
from functools import cache

from callgate.dialects.params import Kind, Param
from callgate.dialects.twilio.addresses import AddressKind, address_kind
from callgate.dialects.twilio.flavor import Flavor

METHODS = ("GET", "POST")
CALL_STATUSES = ("queued", "ringing", "in-progress", "canceled", "completed", "failed", "busy", "no-answer")
MARKUP_MAX_CHARS = 4000
ADDRESS_MAX_CHARS = 512  # the store's column width for To and From
URL_MAX_CHARS = 4096

# Twilio error codes used below.
CALLS_RESOURCE = 21200  # "Calls Resource": any other bad Calls parameter
BAD_URL = 21205
BAD_SEND_DIGITS = 21206
BAD_MACHINE_DETECTION = 21207
BAD_TIMEOUT = 21208
BAD_METHOD = 21209
BAD_APPLICATION_SID = 21218
BAD_STATUS_CALLBACK = 21609
BAD_STATUS_CALLBACK_EVENT = 21626
BAD_BYOC = 21300


def _method(name: str, attr: str | None = None, code: int = BAD_METHOD) -> Param:
    return Param(
        name,
        Kind.ENUM,
        attr=attr,
        code=code,
        choices=METHODS,
        case_insensitive=True,
        default="POST",
        description=f"HTTP method for the matching URL: GET or POST (default POST). Twilio error {code}.",
    )


def _url(
    name: str, attr: str | None = None, code: int = BAD_URL, description: str = "", clearable: bool = False
) -> Param:
    return Param(
        name,
        Kind.URL,
        attr=attr,
        code=code,
        max_length=URL_MAX_CHARS,
        clearable=clearable,
        description=description or "Absolute http(s) URL.",
    )


def _check_to(value: str) -> str | None:
    kind = address_kind(value)
    if kind is None:
        return f"The phone number you are attempting to call, {value}, is not valid."
    if kind is AddressKind.CLIENT:
        # No client registers with Callgate yet: refused here rather than placed and failed.
        return f"The client you are attempting to call, {value}, is not registered."
    return None


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _check_call_reason(value: str) -> str | None:
    # It becomes the INVITE's Subject header: one line of text.
    if _CONTROL.search(value):
        return "CallReason must be one line of text, without control characters"
    return None


def _check_call_token(value: str) -> str | None:
    # A call token comes with an incoming call, to forward it; Callgate issues none yet.
    return f"CallToken is not valid: {value[:64]} is no call token of an incoming call to this account"


@cache
def create_call(flavor: Flavor) -> tuple[Param, ...]:
    """Create Call: Twilio's CreateCallRequest and SignalWire's CreateCallRequest, in one table."""
    markup = tuple(
        Param(
            name,
            attr="markup",
            code=12100,
            max_length=None,
            description=f"Inline call-control document (at most {MARKUP_MAX_CHARS} characters).",
        )
        for name in flavor.markup_params
    )
    return (
        Param(
            "To",
            required_code=21201,
            code=21211,
            missing_message="No 'To' number is specified",
            check=_check_to,
            max_length=ADDRESS_MAX_CHARS,
            description="E.164 number, sip: URI or client: identity.",
        ),
        Param(
            "From",
            attr="from_",
            required_code=21213,
            code=21212,
            missing_message="No 'From' number is specified",
            max_length=ADDRESS_MAX_CHARS,
            description="Caller: E.164 number, or for SIP/client callees a SIP URI, client identity or name.",
        ),
        _url("Url", description="Absolute URL of the call-control document."),
        *markup,
        Param(
            "ApplicationSid",
            attr="application_sid",
            code=BAD_APPLICATION_SID,
            description="Application whose VoiceUrl handles the call.",
        ),
        _method("Method"),
        _url("FallbackUrl"),
        _method("FallbackMethod"),
        _url("StatusCallback", code=BAD_STATUS_CALLBACK),
        _method("StatusCallbackMethod"),
        Param(
            "StatusCallbackEvent",
            Kind.ENUM,
            attr="status_callback_events",
            code=BAD_STATUS_CALLBACK_EVENT,
            choices=flavor.status_callback_events,
            many=True,
            split_spaces=True,
            description="Call progress events to report.",
        ),
        Param(
            "CallerId",
            attr="caller_id",
            code=21212,
            max_length=ADDRESS_MAX_CHARS,
            description="Caller id shown instead of From.",
        ),
        Param(
            "SendDigits",
            code=BAD_SEND_DIGITS,
            pattern=flavor.send_digits_pattern,
            description="Keys to press once answered (w waits 0.5 s, W 1 s).",
        ),
        Param(
            "Timeout",
            Kind.INT,
            attr="timeout_s",
            code=BAD_TIMEOUT,
            minimum=1,
            maximum=600,
            default=60,
            description="Seconds to ring before giving up.",
        ),
        Param(
            "TimeLimit",
            Kind.INT,
            attr="time_limit_s",
            code=CALLS_RESOURCE,
            minimum=1,
            maximum=86400,
            default=14400,
            description="Maximum call duration in seconds.",
        ),
        Param("Record", Kind.BOOL, code=CALLS_RESOURCE, default=False),
        Param("RecordingChannels", Kind.ENUM, code=CALLS_RESOURCE, choices=("mono", "dual"), default="mono"),
        Param(
            "RecordingTrack",
            Kind.ENUM,
            code=CALLS_RESOURCE,
            choices=("inbound", "outbound", "both"),
            default="both",
        ),
        _url("RecordingStatusCallback"),
        _method("RecordingStatusCallbackMethod"),
        Param(
            "RecordingStatusCallbackEvent",
            Kind.ENUM,
            attr="recording_status_callback_events",
            code=CALLS_RESOURCE,
            choices=("in-progress", "completed", "absent"),
            many=True,
            split_spaces=True,
        ),
        Param(
            "Trim",
            Kind.ENUM,
            code=CALLS_RESOURCE,
            choices=("trim-silence", "do-not-trim"),
            default="trim-silence",
        ),
        Param("SipAuthUsername", code=CALLS_RESOURCE, max_length=256),
        Param("SipAuthPassword", code=CALLS_RESOURCE, max_length=256),
        Param(
            "MachineDetection",
            Kind.ENUM,
            code=BAD_MACHINE_DETECTION,
            choices=flavor.machine_detection_modes,
            description="Answering-machine detection mode.",
        ),
        Param(
            "MachineDetectionTimeout",
            Kind.INT,
            attr="machine_detection_timeout_s",
            code=CALLS_RESOURCE,
            minimum=1,
            maximum=120,
            default=30,
        ),
        Param(
            "MachineDetectionSpeechThreshold",
            Kind.INT,
            attr="machine_detection_speech_threshold_ms",
            code=CALLS_RESOURCE,
            minimum=1000,
            maximum=6000,
            default=2400,
        ),
        Param(
            "MachineDetectionSpeechEndThreshold",
            Kind.INT,
            attr="machine_detection_speech_end_threshold_ms",
            code=CALLS_RESOURCE,
            minimum=500,
            maximum=5000,
            default=1200,
        ),
        Param(
            "MachineDetectionSilenceTimeout",
            Kind.INT,
            attr="machine_detection_silence_timeout_ms",
            code=CALLS_RESOURCE,
            minimum=2000,
            maximum=10000,
            default=5000,
        ),
        Param("MachineWordsThreshold", Kind.INT, code=CALLS_RESOURCE, minimum=1, maximum=100, default=6),
        Param("AsyncAmd", Kind.BOOL, code=CALLS_RESOURCE, default=False),
        _url("AsyncAmdStatusCallback"),
        _method("AsyncAmdStatusCallbackMethod"),
        Param("AsyncAmdPartialResults", Kind.BOOL, code=CALLS_RESOURCE, default=False),
        Param(
            "Byoc",
            code=BAD_BYOC,
            pattern=r"BY[0-9a-fA-F]{32}",
            description="Sid of a configured BYOC trunk (`[[trunks]]` with `sid`) that carries the call.",
        ),
        Param(
            "CallReason",
            code=CALLS_RESOURCE,
            max_length=255,
            check=_check_call_reason,
            description="Why the call is made: sent to the callee as the INVITE's Subject header.",
        ),
        Param(
            "CallToken",
            code=CALLS_RESOURCE,
            max_length=4096,
            check=_check_call_token,
            description="The call token of an incoming call being forwarded (none are issued yet).",
        ),
        _url("ClientNotificationUrl"),
        Param(
            "MaxPricePerMinute",
            code=CALLS_RESOURCE,
            pattern=r"\d+\.?\d{0,4}",
            description="Highest acceptable price per minute in USD.",
        ),
    )


@cache
def update_call(flavor: Flavor) -> tuple[Param, ...]:
    markup = tuple(Param(name, attr="markup", code=12100) for name in flavor.markup_params)
    return (
        Param(
            "Status",
            Kind.ENUM,
            code=CALLS_RESOURCE,
            choices=("canceled", "completed"),
            description="canceled ends a queued or ringing call; completed ends any live call.",
        ),
        _url("Url"),
        *markup,
        _method("Method"),
        _url("FallbackUrl"),
        _method("FallbackMethod"),
        _url("StatusCallback", code=BAD_STATUS_CALLBACK),
        _method("StatusCallbackMethod"),
        Param("TimeLimit", Kind.INT, attr="time_limit_s", code=CALLS_RESOURCE, minimum=1, maximum=86400),
    )


PAGE_TOKEN_CODE = 21481
PAGE_SIZE_CODE = 20007
PAGING = (
    Param("PageSize", Kind.INT, code=PAGE_SIZE_CODE, minimum=1, maximum=1000, default=50),
    Param("Page", Kind.INT, code=20001, minimum=0, maximum=10_000_000, default=0),
    # PA/PB + the 32 hex digits of the row the page follows (next) or precedes (previous)
    Param("PageToken", code=PAGE_TOKEN_CODE, pattern=r"P[AB][0-9a-f]{32}"),
)


def _instant(name: str, attr: str | None = None, description: str = "") -> Param:
    return Param(name, Kind.DATE_TIME, attr=attr, code=20001, description=description)


# A call sid on each face: `CA` + 32 hex digits on Twilio, the UUID itself on SignalWire.
CALL_SID_PATTERNS = {
    "twilio": r"CA[0-9a-fA-F]{32}",
    "signalwire": r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}",
}


@cache
def list_calls(flavor: Flavor) -> tuple[Param, ...]:
    """List Calls' filters and paging: Twilio's ListCall query parameters."""
    parent = Param(
        "ParentCallSid", attr="parent_call_sid", code=20001, pattern=CALL_SID_PATTERNS[flavor.name]
    )
    return (*LIST_CALLS[:2], parent, *LIST_CALLS[2:])


LIST_CALLS = (
    Param("To", description="Only calls to this address."),
    Param("From", attr="from_", description="Only calls from this address."),
    Param("Status", Kind.ENUM, code=20001, choices=CALL_STATUSES),
    _instant("StartTime", description="Calls that started on this UTC day (a date, or a time on that day)."),
    _instant("StartTime<", "start_time_before", "Calls that started on or before this date or time."),
    _instant("StartTime>", "start_time_after", "Calls that started on or after this date or time."),
    _instant("EndTime", description="Calls that ended on this UTC day."),
    _instant("EndTime<", "end_time_before"),
    _instant("EndTime>", "end_time_after"),
    *PAGING,
)

# Applications: Twilio error 21402/21403 are the VoiceUrl/VoiceMethod codes of voice configuration.
APP_URL = 21402
APP_METHOD = 21403


APPLICATION_WRITE = (
    Param("FriendlyName", code=20002, max_length=64),
    Param("ApiVersion", Kind.ENUM, code=20001, choices=("2010-04-01", "2008-08-01"), default="2010-04-01"),
    _url("VoiceUrl", code=APP_URL, clearable=True),
    _method("VoiceMethod", code=APP_METHOD),
    _url("VoiceFallbackUrl", code=APP_URL, clearable=True),
    _method("VoiceFallbackMethod", code=APP_METHOD),
    _url("StatusCallback", code=APP_URL, clearable=True),
    _method("StatusCallbackMethod", code=APP_METHOD),
    Param("VoiceCallerIdLookup", Kind.BOOL, code=20001, default=False),
    _url("SmsUrl", code=APP_URL, clearable=True),
    _method("SmsMethod", code=APP_METHOD),
    _url("SmsFallbackUrl", code=APP_URL, clearable=True),
    _method("SmsFallbackMethod", code=APP_METHOD),
    _url("SmsStatusCallback", code=APP_URL, clearable=True),
    _url("MessageStatusCallback", code=APP_URL, clearable=True),
    Param("PublicApplicationConnectEnabled", Kind.BOOL, code=20001, default=False),
)


LIST_APPLICATIONS = (Param("FriendlyName", code=20002), *PAGING)
