"""SIP errors, split by who broke the protocol (the h11 way).

SipError
 +-- LocalProtocolError    we were asked to build or send something invalid
 +-- RemoteProtocolError   the peer sent something we cannot parse or accept; `reason` says what
"""

from __future__ import annotations


class SipError(Exception):
    """Base of the SIP layer's errors."""


class LocalProtocolError(SipError):
    """We broke the protocol: a message we were asked to build or send is invalid."""


class RemoteProtocolError(SipError):
    """The peer broke the protocol. `reason` is the precise cause, for logs and for a 400 reason phrase."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
