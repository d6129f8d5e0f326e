"""TwiML (and SignalWire's LaML/cXML) documents parsed into the neutral verbs of `callgate.core.verbs`.

Theory of operation. `parse_document` checks the size, parses with defusedxml (no DTD, no entity, no
external reference: any of them is a parse failure), checks the root, then reads the verbs of
<Response> in order through `VERBS`, one reader per verb. What the vendor tolerates becomes a
`Notice` beside the verbs, with the vendor's debugger code, and the verb keeps the documented
default; what the vendor refuses raises `DocumentError`. Nothing is skipped without a notice.

Layout: `document.py` reads the whole document (size, safe XML, root) and holds `VERBS`; `reader.py`
reads one element's attributes with the vendor's warning codes (`Reader`, `Attrs`); one module per
kind of verb: `prompts.py` (Say, Play, Pause), `gather.py`, `recording.py` (Record, Start, Stop),
`dial.py` (Dial and its nouns), `control.py` (Hangup, Redirect, Reject, Echo).

Decisions (Twilio's public TwiML reference and error dictionary; SignalWire mirrors both):
- Oversized body: 11750. Malformed XML, DTDs and entities: 12100. A root other than <Response>:
  12102 ("The root element must be Response"), the specific member of the 12100 family.
- An element that is not TwiML (a misspelling, a wrong case such as <say>) or a noun out of place
  (<Number> under <Response>): warning 12200, the element is skipped and the call goes on.
- A verb nested where it may not be: 13320 inside <Gather> (only Say, Play and Pause), 13215
  inside <Dial>; skipped. Any other child element or stray text: 12200, ignored.
- A real TwiML verb or <Dial> noun that Callgate does not implement (<Enqueue>, <Connect>,
  <Dial><Conference>, ...): DocumentError 13750. Skipping it would run a different call flow than
  the vendor would, so the call ends with the error instead.
- Attributes outside the vendor's schema, and valid ones Callgate ignores: 12200, ignored.
- Invalid attribute values: the verb's 13xxx code (12200 where the vendor has none) and the
  default. Integers are plain decimal digits; booleans are exactly "true"/"false"; methods exactly
  "GET"/"POST". Bounds: loop >= 0 (0 repeats, the vendor stops at 1000), Pause length >= 1,
  Gather timeout and numDigits >= 1, Record timeout >= 0 (0: no silence timeout), Record
  maxLength 1..86400, Dial timeout 1..600, Dial timeLimit 1..86400 (the longest call), SignalWire
  Echo timeout 5..120. An invalid Record trim means "do-not-trim", as 13699 documents.
- An empty <Say> (13520) or a <Play> with neither URL nor digits (12200) is dropped. A <Say> longer
  than its voice's limit warns 13521 and is cut to the limit (at a word boundary), so what is spoken
  stays bounded (Twilio documents the limit and the warning, not what it speaks). SSML inside <Say>
  is reduced to what is spoken (<sub alias> reads the alias; element boundaries separate words).
- <Dial> with no valid target warns 13223 and stays, so the engine reports the failed dial to its
  action URL as the vendor does. At most ten <Number> and ten <Sip> nouns are kept.
- <Echo> is in Twilio's TwiML schema (its helper libraries emit it) without attributes; SignalWire
  documents a timeout attribute (default 60 s).
- Verbs after <Hangup>, <Reject> or <Redirect> are kept: the engine stops there anyway, and the
  document stays a faithful image of what was served.
"""

from __future__ import annotations

from callgate.dialects.twilio.twiml.dial import (
    CALL_EVENTS,
    DIAL_ATTRIBUTES,
    DIAL_RECORD,
    MAX_TARGETS_PER_KIND,
    NOUN_ATTRIBUTES,
    PHONE_RE,
    RING_TONES,
    SEND_DIGITS_RE,
    SIP_URI_RE,
    UNSUPPORTED_NOUNS,
)
from callgate.dialects.twilio.twiml.document import (
    BODY_TOO_LARGE,
    DIALECTS,
    NOUNS,
    PARSE_FAILURE,
    ROOT_NOT_RESPONSE,
    UNSUPPORTED_VERBS,
    VERBS,
    parse_document,
)
from callgate.dialects.twilio.twiml.gather import LANGUAGE_RE
from callgate.dialects.twilio.twiml.prompts import DTMF_RE, PROMPTS, SSML_TAGS
from callgate.dialects.twilio.twiml.reader import (
    DIGITS_RE,
    IGNORED_ATTRIBUTES,
    SCHEMA_WARNING,
    VERB_NOT_SUPPORTED,
)
from callgate.dialects.twilio.twiml.recording import RECORDING_EVENTS, RECORDING_TRACKS

__all__ = [
    "BODY_TOO_LARGE",
    "CALL_EVENTS",
    "DIALECTS",
    "DIAL_ATTRIBUTES",
    "DIAL_RECORD",
    "DIGITS_RE",
    "DTMF_RE",
    "IGNORED_ATTRIBUTES",
    "LANGUAGE_RE",
    "MAX_TARGETS_PER_KIND",
    "NOUNS",
    "NOUN_ATTRIBUTES",
    "PARSE_FAILURE",
    "PHONE_RE",
    "PROMPTS",
    "RECORDING_EVENTS",
    "RECORDING_TRACKS",
    "RING_TONES",
    "ROOT_NOT_RESPONSE",
    "SCHEMA_WARNING",
    "SEND_DIGITS_RE",
    "SIP_URI_RE",
    "SSML_TAGS",
    "UNSUPPORTED_NOUNS",
    "UNSUPPORTED_VERBS",
    "VERBS",
    "VERB_NOT_SUPPORTED",
    "parse_document",
]
