"""What differs between faces that speak the 2010-04-01 Calls API: ids, error bodies, a few values.

The Twilio dialect is written once against a `Flavor`; SignalWire's Compatibility API is the same
code with `callgate.dialects.signalwire.SIGNALWIRE`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from uuid import UUID

from callgate.core.call import Account, Application, Call
from callgate.core.errors import ApiError, AuthenticationFailed, MethodNotAllowed
from callgate.dialects.responses import JSONResponse

_HEX32 = re.compile(r"[0-9a-fA-F]{32}")
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def prefixed_sid(prefix: str) -> tuple[Callable[[UUID], str], Callable[[str], UUID | None]]:
    """Render and parse Twilio-style sids: `prefix` + the 32 hex digits of the UUID."""

    def render(value: UUID) -> str:
        return prefix + value.hex

    @lru_cache(maxsize=4096)
    def parse(value: str) -> UUID | None:
        if len(value) == 34 and value[:2] == prefix and _HEX32.fullmatch(value[2:]):
            return UUID(hex=value[2:])
        return None

    return render, parse


def uuid_sid() -> tuple[Callable[[UUID], str], Callable[[str], UUID | None]]:
    """Render and parse SignalWire sids: the UUID itself, in its canonical form."""

    @lru_cache(maxsize=4096)
    def parse(value: str) -> UUID | None:
        return UUID(value) if _UUID.fullmatch(value) else None

    return str, parse


@dataclass(frozen=True, eq=False)
class Flavor:
    """One face of the 2010-04-01 API (compared and hashed by identity: there is one of each)."""

    name: str
    realm: str
    #: the path prefix of resource `uri` fields ("" or "/api/laml")
    uri_prefix: str
    render_account: Callable[[UUID], str]
    parse_account: Callable[[str], UUID | None]
    render_call: Callable[[UUID], str]
    parse_call: Callable[[str], UUID | None]
    render_application: Callable[[UUID], str]
    parse_application: Callable[[str], UUID | None]
    #: form parameters that carry inline call-control markup
    markup_params: tuple[str, ...]
    send_digits_pattern: str
    status_callback_events: tuple[str, ...]
    machine_detection_modes: tuple[str, ...]
    #: MachineWordsThreshold and AsyncAmdPartialResults are this face's (SignalWire's); another face
    #: accepts them, as Twilio ignores what it does not know, and leaves them unused
    amd_words_and_partials: bool
    #: the message when none of Url, the inline document or ApplicationSid is given (21205)
    missing_handler_message: str
    #: the account secret checked by HTTP Basic
    token_of: Callable[[Account], str]
    #: error body and status for an ApiError (`errors` holds every problem found, first is `error`)
    error_body: Callable[[ApiError, list[ApiError], str], tuple[int, dict[str, Any]]]
    #: the JSON of a call and of an application
    call_json: Callable[[Call, Flavor], dict[str, Any]]
    application_json: Callable[[Application, Flavor], dict[str, Any]]
    #: OpenAPI: the component schema name of each error status this face answers with
    error_schemas: dict[str, str]
    #: OpenAPI: the prefix of this face's component schema names ("" or "SignalWire")
    schema_prefix: str = ""
    #: the status of a created call: Twilio's 201; SignalWire's seed documents 200
    create_call_status: int = 201

    def error_response(
        self, error: ApiError, path: str, errors: list[ApiError] | None = None
    ) -> JSONResponse:
        status, body = self.error_body(error, errors or [error], path)
        headers = {}
        if isinstance(error, AuthenticationFailed):
            headers["WWW-Authenticate"] = f'Basic realm="{self.realm}"'
        elif isinstance(error, MethodNotAllowed) and error.allow:
            headers["Allow"] = ", ".join(error.allow)
        return JSONResponse(body, status_code=status, headers=headers)


def twilio_error_body(error: ApiError, _errors: list[ApiError], _path: str) -> tuple[int, dict[str, Any]]:
    # Exactly these four keys: adding `type`/`title` switches twilio-python to another exception class.
    return error.http_status, {
        "code": error.code,
        "message": error.message,
        "more_info": f"https://www.twilio.com/docs/errors/{error.code}",
        "status": error.http_status,
    }
