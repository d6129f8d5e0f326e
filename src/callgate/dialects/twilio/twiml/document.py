"""A whole document: its size, the XML read safely (defusedxml), the root, then each verb of
<Response> through `VERBS`, one reader per verb."""

from __future__ import annotations

from collections.abc import Callable
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException, DTDForbidden, EntitiesForbidden, ExternalReferenceForbidden
from defusedxml.ElementTree import fromstring

from callgate.core.verbs import Document, DocumentError, Verb
from callgate.dialects.twilio.twiml.control import read_echo, read_hangup, read_redirect, read_reject
from callgate.dialects.twilio.twiml.dial import UNSUPPORTED_NOUNS, read_dial
from callgate.dialects.twilio.twiml.gather import read_gather
from callgate.dialects.twilio.twiml.prompts import read_pause, read_play, read_say
from callgate.dialects.twilio.twiml.reader import SCHEMA_WARNING, VERB_NOT_SUPPORTED, Reader
from callgate.dialects.twilio.twiml.recording import read_record, read_start, read_stop

DIALECTS = frozenset({"twilio", "signalwire"})

BODY_TOO_LARGE = 11750  # Twilio: "TwiML response body too large" (over 64 kB)
PARSE_FAILURE = 12100  # Twilio: "Document parse failure"
ROOT_NOT_RESPONSE = 12102  # Twilio: "The root element must be Response"

# Twilio's TwiML verbs that Callgate does not run (13750), and the nouns that only belong inside a
# verb (12200 elsewhere)
UNSUPPORTED_VERBS = frozenset({"Connect", "Enqueue", "Leave", "Pay", "Refer", "Sms"})
NOUNS = frozenset({"Number", "Sip", "Prompt", "Parameter", "Stream", "Siprec", "Transcription", "Recording"})

VERBS: dict[str, Callable[[Reader, Element], Verb | None]] = {
    "Say": read_say,
    "Play": read_play,
    "Pause": read_pause,
    "Gather": read_gather,
    "Record": read_record,
    "Dial": read_dial,
    "Hangup": read_hangup,
    "Redirect": read_redirect,
    "Reject": read_reject,
    "Echo": read_echo,
    "Start": read_start,
    "Stop": read_stop,
}


def parse_document(text: str | bytes, *, dialect: str = "twilio", max_bytes: int = 64 * 1024) -> Document:
    """Parse a TwiML (`dialect` "twilio") or LaML ("signalwire") document into verbs and notices.

    Raises `DocumentError` with the vendor's code when the vendor would refuse the document.
    """
    if dialect not in DIALECTS:
        raise ValueError(f"unknown dialect {dialect!r}; expected one of {sorted(DIALECTS)}")
    size = len(text) if isinstance(text, bytes) else len(text.encode("utf-8", "surrogatepass"))
    if size > max_bytes:
        raise DocumentError(BODY_TOO_LARGE, f"the document is {size} bytes; the limit is {max_bytes}")
    root = _parse_xml(text)
    if root.tag != "Response":
        raise DocumentError(ROOT_NOT_RESPONSE, f"the root element must be <Response>, not <{root.tag}>")
    reader = Reader(dialect)
    reader.check_attributes(root, frozenset())
    reader.check_text(root.text, "Response")
    verbs: list[Verb] = []
    for child in root:
        verb = _verb(reader, child)
        if verb is not None:
            verbs.append(verb)
        reader.check_text(child.tail, "Response")
    return Document(verbs=tuple(verbs), notices=tuple(reader.notices))


def _parse_xml(text: str | bytes) -> Element:
    try:
        root: Element = fromstring(text, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except ParseError as exc:
        raise DocumentError(PARSE_FAILURE, f"the document is not well-formed XML: {exc}") from None
    except DTDForbidden:
        raise DocumentError(PARSE_FAILURE, "a document type declaration (DTD) is not allowed") from None
    except EntitiesForbidden:
        raise DocumentError(PARSE_FAILURE, "entity declarations are not allowed") from None
    except ExternalReferenceForbidden:
        raise DocumentError(PARSE_FAILURE, "external references are not allowed") from None
    except DefusedXmlException as exc:  # any other construct defusedxml refuses
        raise DocumentError(PARSE_FAILURE, f"the document uses a forbidden XML construct: {exc}") from None
    return root


def _verb(reader: Reader, el: Element) -> Verb | None:
    """One child of <Response>: its verb, None if skipped."""
    name = el.tag
    read = VERBS.get(name)
    if read is not None:
        return read(reader, el)
    if name in UNSUPPORTED_VERBS:
        raise DocumentError(VERB_NOT_SUPPORTED, f"<{name}> is not supported by Callgate")
    if name in NOUNS or name in UNSUPPORTED_NOUNS[reader.dialect]:
        reader.warn(SCHEMA_WARNING, f"<{name}> is not allowed directly under <Response>; skipped")
    else:
        reader.warn(SCHEMA_WARNING, f"<{name}> is not a TwiML verb; skipped")
    return None
