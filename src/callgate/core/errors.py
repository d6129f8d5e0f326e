"""Errors that carry their wire code.

    ApiError                      http_status, code (the Twilio-family error code), message
     +-- InvalidParameter         400, a request parameter is missing or wrong (code per parameter)
     +-- AuthenticationFailed     401, 20003: missing or wrong credentials
     +-- NotFound                 404, 20404: no such resource for this account
     +-- MethodNotAllowed         405, 20004
     +-- InvalidCallState         400, 21220: the call's status forbids the request
     +-- Conflict                 409, the resource cannot be changed in its state

Dialects render these in their own body shapes; the engine and the store raise them.
"""

from __future__ import annotations


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


class InvalidParameter(ApiError):
    http_status = 400
    code = 20001


class AuthenticationFailed(ApiError):
    http_status = 401
    code = 20003


class NotFound(ApiError):
    http_status = 404
    code = 20404


class MethodNotAllowed(ApiError):
    http_status = 405
    code = 20004


class InvalidCallState(ApiError):
    http_status = 400
    code = 21220


class Conflict(ApiError):
    http_status = 409
    code = 20009
