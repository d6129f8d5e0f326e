"""Errors that carry their wire code.

    ApiError                      http_status, code (the Twilio-family error code), message
     +-- InvalidParameter         400, a request parameter is missing or wrong (code per parameter)
     +-- UnknownApplication       400, 21218: ApplicationSid names no application of the account
     +-- InvalidCallState         400, 21220: the call's status forbids the request
     +-- CallNotEnded             400, 20009: a live call's record cannot be deleted
     +-- AuthenticationFailed     401, 20003: missing or wrong credentials
     +-- NotFound                 404, 20404: no such resource for this account
     +-- MethodNotAllowed         405, 20004
     +-- InternalError            500, 20500: a fault of ours; the request may be retried
     +-- ServiceUnavailable       503, 20503: too busy right now (the store, contention); retry

Dialects render these in their own body shapes; the engine and the store raise them.
"""

from __future__ import annotations

from collections.abc import Sequence


class ApiError(Exception):
    """Base of every error an API request can answer with."""

    http_status: int = 400
    code: int = 20001

    def __init__(self, message: str, *, code: int | None = None, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.param = param
        #: every problem found in the request, this one first (dialects that list them all use it)
        self.all_errors: list[ApiError] = [self]


class InvalidParameter(ApiError):
    """A request parameter is missing or has a value the vendor refuses."""

    http_status = 400
    code = 20001


class UnknownApplication(ApiError):
    """Twilio error 21218: the ApplicationSid names no application of this account."""

    http_status = 400
    code = 21218


class UnknownByocTrunk(ApiError):
    """Twilio error 21300: the Byoc sid names no BYOC trunk this account may use."""

    http_status = 400
    code = 21300


class InvalidCallState(ApiError):
    """Twilio error 21220: the call's status forbids the request (it has ended)."""

    http_status = 400
    code = 21220


class CallNotEnded(ApiError):
    """Twilio error 20009: a call record can be deleted only once the call has ended."""

    http_status = 400
    code = 20009


class AuthenticationFailed(ApiError):
    """Twilio error 20003: missing or wrong credentials, or credentials of another account."""

    http_status = 401
    code = 20003


class NotFound(ApiError):
    """Twilio error 20404: no such resource for this account (another account's counts as none)."""

    http_status = 404
    code = 20404


class MethodNotAllowed(ApiError):
    """Twilio error 20004: the resource does not take this HTTP method; `allow` names those it takes
    (the response's Allow header, RFC 9110 15.5.6)."""

    http_status = 405
    code = 20004

    def __init__(self, message: str, *, allow: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.allow = tuple(allow)


class PriceTooHigh(ApiError):
    """The destination's rate is above the call's MaxPricePerMinute: the call is not created."""

    http_status = 400
    code = 21215


class InternalError(ApiError):
    """Twilio error 20500: an unexpected fault on our side."""

    http_status = 500
    code = 20500


class ServiceUnavailable(ApiError):
    """Twilio error 20503: the service cannot take the request now; it may be retried."""

    http_status = 503
    code = 20503
