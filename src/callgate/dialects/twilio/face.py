"""The Twilio face: `AC`/`CA`/`AP` + 32 hex sids, Twilio's error body, TwiML."""

from __future__ import annotations

from callgate.dialects.twilio.flavor import Flavor, prefixed_sid, twilio_error_body
from callgate.dialects.twilio.render import twilio_application, twilio_call

_account = prefixed_sid("AC")
_call = prefixed_sid("CA")
_app = prefixed_sid("AP")

TWILIO = Flavor(
    name="twilio",
    realm="Twilio API",
    uri_prefix="",
    render_account=_account[0],
    parse_account=_account[1],
    render_call=_call[0],
    parse_call=_call[1],
    render_application=_app[0],
    parse_application=_app[1],
    markup_params=("Twiml",),
    # Twilio error 21206. The seed: "any digit (0-9), '#', '*' and 'w', to insert a half second pause".
    send_digits_pattern=r"[0-9#*w]{1,32}",
    status_callback_events=("initiated", "ringing", "answered", "completed"),
    machine_detection_modes=("Enable", "DetectMessageEnd"),
    amd_words_and_partials=False,
    missing_handler_message="Url parameter is required. For more information, see http://www.twilio.com/docs/api/twiml",
    token_of=lambda account: account.auth_token,
    error_body=twilio_error_body,
    call_json=twilio_call,
    application_json=twilio_application,
    error_schemas={"400": "Error", "401": "Error", "404": "Error", "500": "Error"},
)
