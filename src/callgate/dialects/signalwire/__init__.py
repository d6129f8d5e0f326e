"""SignalWire's Compatibility (LaML) API: the Twilio dialect with UUID sids, LaML and its own errors.

Served under `/api/laml/2010-04-01/...` and, for the SDK (which drops the prefix), under
`/2010-04-01/...` when the account in the path is a UUID.
"""

from __future__ import annotations

from typing import Any

from callgate.core.call import Application, Call
from callgate.core.errors import ApiError, AuthenticationFailed, InvalidParameter, MethodNotAllowed, NotFound
from callgate.dialects.twilio.addresses import formatted
from callgate.dialects.twilio.flavor import Flavor, uuid_sid
from callgate.dialects.twilio.render import account_path, rfc2822

MORE_INFO = "https://developer.signalwire.com/compatibility-api/reference/error-codes"


def signalwire_error_body(error: ApiError, errors: list[ApiError], _path: str) -> tuple[int, dict[str, Any]]:
    """The seed's shapes: 400 lists every parameter problem; 401, 404 and 422 are one flat object."""
    if isinstance(error, InvalidParameter):
        return 400, {
            "errors": [
                {"code": str(e.code), "message": e.message, "more_info": MORE_INFO}
                for e in errors
                if isinstance(e, InvalidParameter)
            ]
        }
    # Auth, not-found, wrong-method and server errors keep their status; the rest of the 4xx answers
    # (well-formed requests that cannot be carried out) are the seed's 422.
    status = error.http_status
    if 400 <= status < 500 and not isinstance(error, AuthenticationFailed | NotFound | MethodNotAllowed):
        status = 422
    return status, {"code": error.code, "message": error.message, "more_info": MORE_INFO, "status": status}


def signalwire_call(call: Call, flavor: Flavor) -> dict[str, Any]:
    sid = flavor.render_call(call.id)
    base = f"{account_path(flavor, call.account_id)}/Calls/{sid}"
    q = call.quality
    to_formatted, from_formatted = formatted(call.to), formatted(call.from_)
    return {
        "sid": sid,
        "account_sid": flavor.render_account(call.account_id),
        "date_created": rfc2822(call.created_at),
        "date_updated": rfc2822(call.updated_at),
        "parent_call_sid": None if call.parent_call_id is None else flavor.render_call(call.parent_call_id),
        "to": call.to,
        "formatted_to": to_formatted,
        "to_formatted": to_formatted,
        "from": call.from_,
        "formatted_from": from_formatted,
        "from_formatted": from_formatted,
        "phone_number_sid": None,
        "status": call.status.value,
        "start_time": rfc2822(call.start_time),
        "end_time": rfc2822(call.end_time),
        "duration": call.duration_s or 0,
        "price": None if call.price is None else float(call.price),
        "price_unit": call.price_unit,
        # The seed's CallDirection enum is inbound/outbound.
        "direction": "inbound" if call.direction == "inbound" else "outbound",
        "answered_by": call.answered_by,
        "api_version": call.api_version,
        "forwarded_from": None,
        "caller_name": None,
        "uri": base,
        "subresource_uris": {"notifications": None, "recordings": f"{base}/Recordings"},
        "annotation": None,
        "group_sid": None,
        "audio_in_mos": q.audio_in_mos,
        "sip_result_code": None if call.sip_result_code is None else str(call.sip_result_code),
        "audio_rtt_avg": q.audio_rtt_avg_ms,
        "audio_rtt_min": q.audio_rtt_min_ms,
        "audio_rtt_max": q.audio_rtt_max_ms,
        "audio_out_jitter_min": q.audio_out_jitter_min_ms,
        "audio_out_jitter_max": q.audio_out_jitter_max_ms,
        "audio_out_jitter_avg": q.audio_out_jitter_avg_ms,
        "audio_out_lost": q.audio_out_lost,
    }


def signalwire_application(app: Application, flavor: Flavor) -> dict[str, Any]:
    sid = flavor.render_application(app.id)
    # signalwire 2.1.1 reads every one of these keys with payload[...]: none may be missing.
    return {
        "sid": sid,
        "date_created": rfc2822(app.created_at),
        "date_updated": rfc2822(app.updated_at),
        "account_sid": flavor.render_account(app.account_id),
        "friendly_name": app.friendly_name,
        "voice_url": app.voice_url,
        "voice_method": app.voice_method,
        "voice_fallback_url": app.voice_fallback_url,
        "voice_fallback_method": app.voice_fallback_method,
        "status_callback": app.status_callback,
        "status_callback_method": app.status_callback_method,
        "voice_caller_id_lookup": app.voice_caller_id_lookup,
        "sms_url": app.sms_url,
        "sms_method": app.sms_method,
        "sms_fallback_url": app.sms_fallback_url,
        "sms_fallback_method": app.sms_fallback_method,
        "sms_status_callback": app.sms_status_callback,
        "sms_status_callback_method": "POST",
        "message_status_callback": app.message_status_callback,
        "api_version": app.api_version,
        "uri": f"{account_path(flavor, app.account_id)}/Applications/{sid}",
    }


_uuid = uuid_sid()

SIGNALWIRE = Flavor(
    name="signalwire",
    realm="SignalWire API",
    uri_prefix="/api/laml",
    render_account=_uuid[0],
    parse_account=_uuid[1],
    render_call=_uuid[0],
    parse_call=_uuid[1],
    render_application=_uuid[0],
    parse_application=_uuid[1],
    markup_params=("Laml", "Twiml"),
    # The seed: ^[\d#*wW]{1,32}$
    send_digits_pattern=r"[0-9#*wW]{1,32}",
    status_callback_events=(
        "initiated",
        "ringing",
        "answered",
        "completed",
        "ringing_forwarded",
        "ringing_queued",
    ),
    machine_detection_modes=("Enable", "DetectMessageEnd", "none"),
    amd_words_and_partials=True,
    missing_handler_message="Url, Laml, Twiml or ApplicationSid parameter is required",
    token_of=lambda account: account.signalwire_token,
    error_body=signalwire_error_body,
    call_json=signalwire_call,
    application_json=signalwire_application,
    error_schemas={"400": "ErrorArray", "401": "Error", "404": "Error", "422": "Error", "500": "Error"},
    schema_prefix="SignalWire",
    create_call_status=200,
)
