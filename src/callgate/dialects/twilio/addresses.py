"""Call endpoints as Twilio writes them: E.164 numbers, `sip:`/`sips:` URIs and `client:` identities."""

from __future__ import annotations

import re
from enum import Enum

import phonenumbers

from callgate.dialects.params import short_cache

_E164 = re.compile(r"\+[1-9]\d{1,14}")
# RFC 3261 25.1, loosely: an optional user part, a host (name, IPv4 or [IPv6]), an optional port, params.
_SIP = re.compile(
    r"sips?:(?:[^@\s<>\"]+@)?(?:[A-Za-z0-9](?:[A-Za-z0-9.\-]*[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?(?:[;?][^\s<>\"]*)?",
    re.IGNORECASE,
)
_CLIENT = re.compile(r"client:[A-Za-z0-9_.\-@]{1,256}")
# When calling a SIP endpoint or a client, the caller may be any alphanumeric identifier.
_IDENTIFIER = re.compile(r"[A-Za-z0-9_.\-+@ ]{1,256}")


class AddressKind(Enum):
    """What a To, From or CallerId names."""

    PHONE = "phone"
    SIP = "sip"
    CLIENT = "client"


def _phone_number(value: str) -> phonenumbers.PhoneNumber | None:
    """The parsed number if `value` is a possible E.164 number, else None."""
    if not _E164.fullmatch(value):
        return None
    try:
        number = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException:
        return None
    return number if phonenumbers.is_possible_number(number) else None


def _address_kind(value: str) -> AddressKind | None:
    """What kind of endpoint `value` names, or None if it is no valid endpoint."""
    if value.startswith("+"):
        return AddressKind.PHONE if phone_number(value) else None
    low = value.lower()
    if low.startswith(("sip:", "sips:")):
        return AddressKind.SIP if _SIP.fullmatch(value) else None
    if low.startswith("client:"):
        return AddressKind.CLIENT if _CLIENT.fullmatch(value) else None
    return None


def valid_caller(value: str, callee: AddressKind | None) -> bool:
    """Whether `value` may be the From (or CallerId) of a call to an endpoint of kind `callee`.

    Twilio: if To is a phone number, From must be a phone number too; a SIP or client callee
    accepts any phone number, SIP URI, client identity or plain alphanumeric caller name.
    """
    kind = address_kind(value)
    if callee is AddressKind.PHONE or callee is None:
        return kind is AddressKind.PHONE
    return kind is not None or bool(_IDENTIFIER.fullmatch(value))


def _formatted(value: str) -> str:
    """The display form Twilio gives: `(415) 555-0100` for NANP numbers, E.164 elsewhere, else as is."""
    number = phone_number(value)
    if number is None:
        return value
    if number.country_code == 1:
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


# Parsing a number costs tens of microseconds; the same numbers come back call after call.
phone_number = short_cache(_phone_number)
address_kind = short_cache(_address_kind)
formatted = short_cache(_formatted)
