"""Inline TwiML/LaML checks done when a call is created (the verbs are parsed when the call runs)."""

from __future__ import annotations

from xml.etree.ElementTree import ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from callgate.core.errors import InvalidParameter

MARKUP_TOO_LONG = 32018  # Twilio: "Twiml size exceeded maximum allowed value of 4000 characters"
DOCUMENT_PARSE_FAILURE = 12100


def check_markup(name: str, text: str, max_chars: int) -> None:
    """Raise `InvalidParameter` unless `text` is a well-formed document rooted at <Response>."""
    if len(text) > max_chars:
        raise InvalidParameter(
            f"{name} size exceeded maximum allowed value of {max_chars} characters",
            code=MARKUP_TOO_LONG,
            param=name,
        )
    try:
        root = fromstring(text)
    except ParseError as exc:
        raise InvalidParameter(
            f"{name} is not a well-formed XML document: {exc}", code=DOCUMENT_PARSE_FAILURE, param=name
        ) from None
    except DefusedXmlException as exc:
        raise InvalidParameter(
            f"{name} uses a forbidden XML construct: {exc}", code=DOCUMENT_PARSE_FAILURE, param=name
        ) from None
    if root.tag != "Response":
        raise InvalidParameter(
            f"{name} must have <Response> as its root element, not <{root.tag}>",
            code=DOCUMENT_PARSE_FAILURE,
            param=name,
        )
