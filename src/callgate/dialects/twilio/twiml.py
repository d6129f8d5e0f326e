"""TwiML (and SignalWire's LaML/cXML) documents parsed into the neutral verbs of `callgate.core.verbs`.

Theory of operation. `parse_document` checks the size, parses with defusedxml (no DTD, no entity, no
external reference: any of them is a parse failure), checks the root, then reads the verbs of
<Response> in order through `VERBS`, one reader per verb. What the vendor tolerates becomes a
`Notice` beside the verbs, with the vendor's debugger code, and the verb keeps the documented
default; what the vendor refuses raises `DocumentError`. Nothing is skipped without a notice.

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

import re
from collections.abc import Callable, Iterable
from dataclasses import replace
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException, DTDForbidden, EntitiesForbidden, ExternalReferenceForbidden
from defusedxml.ElementTree import fromstring

from callgate.core.verbs import (
    Dial,
    DialTarget,
    Document,
    DocumentError,
    Echo,
    Gather,
    Hangup,
    Notice,
    Pause,
    Play,
    Prompt,
    Record,
    Redirect,
    Reject,
    Say,
    StartRecording,
    StopRecording,
    Verb,
    cut_text,
)

DIALECTS = frozenset({"twilio", "signalwire"})

BODY_TOO_LARGE = 11750  # Twilio: "TwiML response body too large" (over 64 kB)
PARSE_FAILURE = 12100  # Twilio: "Document parse failure"
ROOT_NOT_RESPONSE = 12102  # Twilio: "The root element must be Response"
SCHEMA_WARNING = 12200  # Twilio: "Schema validation warning"
VERB_NOT_SUPPORTED = 13750  # Twilio: "Twiml verb not supported by this API version"

# Twilio's TwiML verbs and <Dial> nouns that Callgate does not run (13750), and the nouns that only
# belong inside a verb (12200 elsewhere)
UNSUPPORTED_VERBS = frozenset({"Connect", "Enqueue", "Leave", "Pay", "Refer", "Sms"})
UNSUPPORTED_NOUNS = {
    "twilio": frozenset({"Application", "Client", "Conference", "Queue", "Sim", "WhatsApp"}),
    "signalwire": frozenset({"Conference", "Queue", "Verto"}),
}
NOUNS = frozenset({"Number", "Sip", "Prompt", "Parameter", "Stream", "Siprec", "Transcription", "Recording"})

SSML_TAGS = frozenset({"break", "emphasis", "lang", "p", "phoneme", "prosody", "s", "say-as", "sub", "w"})
DIGITS_RE = re.compile(r"[0-9]{1,9}")  # longer: out of every range (and int() refuses 4300+)
DTMF_RE = re.compile(r"[0-9A-DwW#*]+")  # Play digits: 0-9, A-D, # and *; w/W pause 0.5 s
SEND_DIGITS_RE = re.compile(r"[0-9wW#*]+")
PHONE_RE = re.compile(r"\+?[0-9][0-9\-(). ]*")
SIP_URI_RE = re.compile(r"sips?:\S+", re.IGNORECASE)
LANGUAGE_RE = re.compile(r"[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*")
RING_TONES = frozenset(
    "at au bg br be ch cl cn cz de dk ee es fi fr gr hu il in it lt jp mx my nl no nz ph pl pt ru se sg "
    "th uk us us-old tw ve za".split()
)
DIAL_RECORD = frozenset(
    {
        "do-not-record",
        "record-from-answer",
        "record-from-ringing",
        "record-from-answer-dual",
        "record-from-ringing-dual",
    }
)
RECORDING_EVENTS = frozenset({"in-progress", "completed", "absent"})
CALL_EVENTS = frozenset({"initiated", "ringing", "answered", "completed"})
MAX_TARGETS_PER_KIND = 10  # Twilio: up to ten <Number> (or <Sip>) nouns ring at once

# attributes in Twilio's schema that Callgate reads as valid TwiML but does not act on
IGNORED_ATTRIBUTES = {
    "Gather": frozenset({"bargeIn", "debug", "enhanced", "maxSpeechTime", "profanityFilter", "speechModel"}),
    "Dial": frozenset(
        {
            "events",
            "passports",
            "recordingConfigurationId",
            "recordingTrack",
            "referMethod",
            "referUrl",
            "sequential",
            "trim",
        }
    ),
    "Record": frozenset({"recordingConfigurationId"}),
    "Number": frozenset(
        {
            "amdStatusCallback",
            "amdStatusCallbackMethod",
            "byoc",
            "machineDetection",
            "machineDetectionSilenceTimeout",
            "machineDetectionSpeechEndThreshold",
            "machineDetectionSpeechThreshold",
            "machineDetectionTimeout",
        }
    ),
}
IGNORED_ATTRIBUTES["Sip"] = IGNORED_ATTRIBUTES["Number"] - {"byoc"}
IGNORED_ATTRIBUTES["Start"] = frozenset({"action", "method"})
IGNORED_ATTRIBUTES["Recording"] = frozenset({"recordingConfigurationId"})


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
    reader = _Reader(dialect)
    reader.check_attributes(root, frozenset())
    reader.check_text(root.text, "Response")
    verbs: list[Verb] = []
    for child in root:
        verb = reader.verb(child)
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


class _Reader:
    """Reads elements into verbs, collecting the notices on the way."""

    def __init__(self, dialect: str) -> None:
        self.dialect = dialect
        self.notices: list[Notice] = []

    def warn(self, code: int, message: str, level: str = "warning") -> None:
        self.notices.append(Notice(code, message, level))

    def verb(self, el: Element) -> Verb | None:
        name = el.tag
        read = VERBS.get(name)
        if read is not None:
            return read(self, el)
        if name in UNSUPPORTED_VERBS:
            raise DocumentError(VERB_NOT_SUPPORTED, f"<{name}> is not supported by Callgate")
        if name in NOUNS or name in UNSUPPORTED_NOUNS[self.dialect]:
            self.warn(SCHEMA_WARNING, f"<{name}> is not allowed directly under <Response>; skipped")
        else:
            self.warn(SCHEMA_WARNING, f"<{name}> is not a TwiML verb; skipped")
        return None

    def check_attributes(self, el: Element, allowed: frozenset[str]) -> None:
        ignored = IGNORED_ATTRIBUTES.get(el.tag, frozenset())
        for name in el.attrib:
            if name in allowed:
                continue
            if name in ignored:
                self.warn(
                    SCHEMA_WARNING, f"<{el.tag}> attribute {name!r} is not supported by Callgate; ignored"
                )
            else:
                self.warn(SCHEMA_WARNING, f"<{el.tag}> has no attribute {name!r}; ignored")

    def check_text(self, text: str | None, where: str) -> None:
        if text is not None and text.strip():
            self.warn(SCHEMA_WARNING, f"text {_short(text)!r} is not allowed in <{where}>; ignored")

    def check_empty(self, el: Element) -> None:
        """Warn about content in a verb that takes none."""
        self.check_text(el.text, el.tag)
        for child in el:
            self.warn(SCHEMA_WARNING, f"<{child.tag}> is not allowed in <{el.tag}>; ignored")
            self.check_text(child.tail, el.tag)

    def attrs(self, el: Element, allowed: Iterable[str]) -> _Attrs:
        self.check_attributes(el, frozenset(allowed))
        return _Attrs(self, el)


class _Attrs:
    """Typed access to one element's attributes; a bad value warns with `code` and gives the default."""

    def __init__(self, reader: _Reader, el: Element) -> None:
        self.reader = reader
        self.tag = el.tag
        self.values = el.attrib

    def bad(
        self, code: int, name: str, value: str, rule: str, default: object, level: str = "warning"
    ) -> None:
        outcome = "ignored" if default is None else f"using {default!r}"
        self.reader.warn(code, f"<{self.tag}> {name}={value!r}: {rule}; {outcome}", level)

    def url(self, name: str) -> str | None:
        value = self.values.get(name, "").strip()
        return value or None  # empty: the current document's URL, as if absent

    def text(self, name: str) -> str | None:
        return self.values.get(name) or None

    def method(self, name: str, code: int) -> str:
        value = self.values.get(name)
        if value is None or value in ("GET", "POST"):
            return value or "POST"
        self.bad(code, name, value, "must be GET or POST", "POST")
        return "POST"

    def boolean(self, name: str, code: int, default: bool, level: str = "warning") -> bool:
        value = self.values.get(name)
        if value is None:
            return default
        if value in ("true", "false"):
            return value == "true"
        self.bad(code, name, value, "must be true or false", "true" if default else "false", level)
        return default

    def integer(self, name: str, code: int, default: int, low: int, high: int | None = None) -> int:
        value = self.values.get(name)
        if value is None:
            return default
        if DIGITS_RE.fullmatch(value) and low <= int(value) and (high is None or int(value) <= high):
            return int(value)
        rule = (
            f"must be an integer from {low} to {high}" if high is not None else f"must be an integer >= {low}"
        )
        self.bad(code, name, value, rule, default)
        return default

    def choice(self, name: str, code: int, allowed: frozenset[str], default: str) -> str:
        value = self.values.get(name)
        if value is None:
            return default
        if value in allowed:
            return value
        self.bad(code, name, value, f"must be one of {', '.join(sorted(allowed))}", default)
        return default

    def events(
        self, name: str, code: int, allowed: frozenset[str], default: tuple[str, ...], level: str = "warning"
    ) -> tuple[str, ...]:
        value = self.values.get(name)
        if value is None:
            return default
        events = tuple(dict.fromkeys(value.replace(",", " ").split()))
        if events and set(events) <= allowed:
            return events
        self.bad(code, name, value, f"events must be among {', '.join(sorted(allowed))}", default, level)
        return default

    def pattern(self, name: str, code: int, regex: re.Pattern[str], rule: str) -> str | None:
        value = self.values.get(name)
        if value is None or regex.fullmatch(value):
            return value
        self.bad(code, name, value, rule, None)
        return None


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= 40 else text[:37] + "..."


# ---- Say, Play, Pause: also the prompts nested in <Gather> ------------------------------------------


def _say(r: _Reader, el: Element, *, in_gather: bool = False) -> Say | None:
    a = r.attrs(el, ("voice", "language", "loop"))
    loop = a.integer("loop", 13322 if in_gather else 13510, 1, 0)
    text = _spoken_text(r, el)
    if not text:
        r.warn(13520, "<Say> has no text to say; skipped")
        return None
    voice = a.text("voice")
    limit = _say_limit(voice)
    if len(text) > limit:
        text, total = cut_text(text, limit), len(text)
        r.warn(13521, f"<Say> text is {total} characters; the limit for this voice is {limit}: "
                      f"the first {len(text)} are spoken")  # fmt: skip
    return Say(text=text, voice=voice, language=a.text("language"), loop=loop)


def _say_limit(voice: str | None) -> int:
    """Twilio 13521: Basic voices take 4096 characters, Polly voices 3000, Google voices 5000."""
    provider = (voice or "").partition(".")[0]
    return {"Polly": 3000, "Google": 5000}.get(provider, 4096)


def _spoken_text(r: _Reader, say: Element) -> str:
    """The text of a <Say> with its SSML reduced to what is heard (iterative: nesting depth is free).

    Element boundaries separate words: the helper libraries write `Hello<emphasis>world</emphasis>`.
    """
    out = [say.text or ""]
    pending: list[Element | str] = list(reversed(say))
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            out.append(item)
            continue
        if item.tag not in SSML_TAGS:
            r.warn(SCHEMA_WARNING, f"<{item.tag}> is not an SSML element of <Say>; its text is spoken as is")
        pending.append(" " + (item.tail or ""))
        if item.tag == "sub" and "alias" in item.attrib:
            out.append(" " + item.attrib["alias"])
        elif item.tag != "break":
            out.append(" " + (item.text or ""))
            pending.extend(reversed(item))
    return " ".join("".join(out).split())


def _play(r: _Reader, el: Element, *, in_gather: bool = False) -> Play | None:
    a = r.attrs(el, ("loop", "digits"))
    loop = a.integer("loop", 13410, 1, 0)
    digits = a.pattern("digits", 13430, DTMF_RE, "DTMF digits are 0-9, A-D, #, * and w")
    for child in el:
        r.warn(SCHEMA_WARNING, f"<{child.tag}> is not allowed in <Play>; ignored")
    url = (el.text or "").strip() or None
    if url is None and digits is None:
        if "digits" not in el.attrib:
            r.warn(SCHEMA_WARNING, "<Play> has neither a URL nor digits; skipped")
        return None
    return Play(url=url, loop=loop, digits=digits)


def _pause(r: _Reader, el: Element, *, in_gather: bool = False) -> Pause:
    a = r.attrs(el, ("length",))
    r.check_empty(el)
    return Pause(length_s=float(a.integer("length", 13910, 1, 1)))


PROMPTS: dict[str, Callable[..., Prompt | None]] = {"Say": _say, "Play": _play, "Pause": _pause}


# ---- Gather, Record ------------------------------------------------------------------------------------


def _gather(r: _Reader, el: Element) -> Gather:
    a = r.attrs(
        el,
        (
            "input",
            "action",
            "method",
            "timeout",
            "finishOnKey",
            "numDigits",
            "actionOnEmptyResult",
            "speechTimeout",
            "language",
            "hints",
            "partialResultCallback",
            "partialResultCallbackMethod",
        ),
    )
    inputs: tuple[str, ...] = ("dtmf",)
    raw_input = el.get("input")
    if raw_input is not None:
        kinds = raw_input.split()
        if kinds and set(kinds) <= {"dtmf", "speech"} and len(set(kinds)) == len(kinds):
            inputs = tuple(k for k in ("dtmf", "speech") if k in kinds)
        else:
            a.bad(13326, "input", raw_input, "must be dtmf, speech or dtmf speech", "dtmf")
    finish_on_key = el.get("finishOnKey", "#")
    if not re.fullmatch(r"[0-9#*]?", finish_on_key):
        a.bad(13310, "finishOnKey", finish_on_key, "must be one key of 0-9, # or *, or empty", "#")
        finish_on_key = "#"
    num_digits: int | None = None
    if "numDigits" in el.attrib:
        num_digits = a.integer("numDigits", 13314, 0, 1) or None  # invalid: unlimited, the default
    speech_timeout = el.get("speechTimeout")
    if speech_timeout is not None and not (speech_timeout == "auto" or _positive(speech_timeout)):
        a.bad(13327, "speechTimeout", speech_timeout, "must be auto or a positive integer", None)
        speech_timeout = None
    gather = Gather(
        input=inputs,
        action=a.url("action"),
        method=a.method("method", 13312),
        timeout_s=float(a.integer("timeout", 13313, 5, 1)),
        finish_on_key=finish_on_key,
        num_digits=num_digits,
        action_on_empty_result=a.boolean("actionOnEmptyResult", 13338, False, level="error"),
        speech_timeout=speech_timeout,
        language=a.pattern("language", 13331, LANGUAGE_RE, "must be a BCP-47 language tag"),
        hints=a.text("hints"),
        partial_result_callback=a.url("partialResultCallback"),
        partial_result_callback_method=a.method("partialResultCallbackMethod", 13329),
    )
    children: list[Prompt] = []
    r.check_text(el.text, "Gather")
    for child in el:
        read = PROMPTS.get(child.tag)
        if read is None:
            r.warn(13320, f"<{child.tag}> is not allowed in <Gather> (only Say, Play and Pause); skipped")
        else:
            prompt = read(r, child, in_gather=True)
            if prompt is not None:
                children.append(prompt)
        r.check_text(child.tail, "Gather")
    return replace(gather, children=tuple(children))


def _positive(value: str) -> bool:
    return bool(DIGITS_RE.fullmatch(value)) and int(value) > 0


def _record(r: _Reader, el: Element) -> Record:
    a = r.attrs(
        el,
        (
            "action",
            "method",
            "timeout",
            "finishOnKey",
            "maxLength",
            "playBeep",
            "trim",
            "recordingStatusCallback",
            "recordingStatusCallbackMethod",
            "recordingStatusCallbackEvent",
            "transcribe",
            "transcribeCallback",
        ),
    )
    r.check_empty(el)
    trim = el.get("trim", "trim-silence")
    if trim not in ("trim-silence", "do-not-trim"):
        a.bad(13699, "trim", trim, "must be trim-silence or do-not-trim", "do-not-trim")
        trim = "do-not-trim"  # Twilio 13699: an invalid trim value means no trimming
    return Record(
        action=a.url("action"),
        method=a.method("method", 13610),
        timeout_s=a.integer("timeout", 13611, 5, 0),
        finish_on_key=a.pattern("finishOnKey", 13613, re.compile(r"[0-9#*]+"), "keys are 0-9, # and *")
        or "1234567890*#",
        max_length_s=a.integer("maxLength", 13612, 3600, 1, 86400),
        play_beep=a.boolean("playBeep", 13616, True),
        trim=trim,
        recording_status_callback=a.url("recordingStatusCallback"),
        recording_status_callback_method=a.method("recordingStatusCallbackMethod", SCHEMA_WARNING),
        recording_status_callback_events=a.events(
            "recordingStatusCallbackEvent", 13621, RECORDING_EVENTS, ("completed",), level="error"
        ),
        transcribe=a.boolean("transcribe", 13614, False),
        transcribe_callback=a.url("transcribeCallback"),
    )


# ---- Dial and its nouns ----------------------------------------------------------------------------------

DIAL_ATTRIBUTES = (
    "action",
    "method",
    "callerId",
    "timeout",
    "timeLimit",
    "record",
    "recordingStatusCallback",
    "recordingStatusCallbackMethod",
    "recordingStatusCallbackEvent",
    "hangupOnStar",
    "answerOnBridge",
    "ringTone",
)
NOUN_ATTRIBUTES = (
    "sendDigits",
    "url",
    "method",
    "statusCallback",
    "statusCallbackMethod",
    "statusCallbackEvent",
)


def _dial(r: _Reader, el: Element) -> Dial:
    a = r.attrs(el, DIAL_ATTRIBUTES)
    record = el.get("record", "do-not-record")
    if record in ("true", "false"):  # the original boolean form of the attribute
        record = "record-from-answer" if record == "true" else "do-not-record"
    elif record not in DIAL_RECORD:
        a.bad(13217, "record", record, f"must be one of {', '.join(sorted(DIAL_RECORD))}", "do-not-record")
        record = "do-not-record"
    ring_tone = el.get("ringTone")
    if ring_tone is not None and ring_tone not in RING_TONES:
        a.bad(13220, "ringTone", ring_tone, "must be a two-letter country code Twilio knows", None)
        ring_tone = None
    dial = Dial(
        targets=(),
        action=a.url("action"),
        method=a.method("method", 13210),
        caller_id=(el.get("callerId") or "").strip() or None,
        timeout_s=a.integer("timeout", 13212, 30, 1, 600),
        time_limit_s=a.integer("timeLimit", 13216, 14400, 1, 86400),
        record=record,
        recording_status_callback=a.url("recordingStatusCallback"),
        recording_status_callback_method=a.method("recordingStatusCallbackMethod", SCHEMA_WARNING),
        recording_status_callback_events=a.events(
            "recordingStatusCallbackEvent", 13621, RECORDING_EVENTS, ("completed",), level="error"
        ),
        hangup_on_star=a.boolean("hangupOnStar", 13213, False),
        answer_on_bridge=a.boolean("answerOnBridge", 13219, False),
        ring_tone=ring_tone,
    )
    targets: list[DialTarget] = []
    nouns = list(el)
    text = (el.text or "").strip()
    if text and not nouns:
        target = _number_target(r, text)
        if target is not None:
            targets.append(target)
    elif text:
        r.check_text(text, "Dial")
    for child in nouns:
        if child.tag in ("Number", "Sip"):
            target = _noun(r, child)
            if target is not None:
                targets.append(target)
        elif child.tag in UNSUPPORTED_NOUNS[r.dialect]:
            raise DocumentError(VERB_NOT_SUPPORTED, f"<Dial><{child.tag}> is not supported by Callgate")
        else:
            r.warn(13215, f"<{child.tag}> is not allowed in <Dial>; skipped")
        r.check_text(child.tail, "Dial")
    targets = _at_most_ten(r, targets)
    if not targets:
        r.warn(13223, "<Dial> has no valid number or SIP address to dial")
    return replace(dial, targets=tuple(targets))


def _number_target(r: _Reader, text: str) -> DialTarget | None:
    if PHONE_RE.fullmatch(text):
        return DialTarget(kind="number", address=text)
    r.warn(13223, f"<Dial> {_short(text)!r} is not a phone number; skipped")
    return None


def _noun(r: _Reader, el: Element) -> DialTarget | None:
    is_sip = el.tag == "Sip"
    a = r.attrs(el, NOUN_ATTRIBUTES + (("username", "password") if is_sip else ()))
    for child in el:
        r.warn(SCHEMA_WARNING, f"<{child.tag}> is not allowed in <{el.tag}>; ignored")
    address = (el.text or "").strip()
    if is_sip and not SIP_URI_RE.fullmatch(address):
        r.warn(13243, f"<Sip> {_short(address)!r} is not a sip: or sips: URI; skipped")
        return None
    if not is_sip and not PHONE_RE.fullmatch(address):
        r.warn(13223, f"<Number> {_short(address)!r} is not a phone number; skipped")
        return None
    target = DialTarget(
        kind="sip" if is_sip else "number",
        address=address,
        send_digits=a.pattern(
            "sendDigits", 13242 if is_sip else 13222, SEND_DIGITS_RE, "keys are 0-9, #, * and w"
        ),
        url=a.url("url"),
        method=a.method("method", 13241 if is_sip else 13221),
        status_callback=a.url("statusCallback"),
        status_callback_method=a.method("statusCallbackMethod", SCHEMA_WARNING),
        status_callback_events=a.events("statusCallbackEvent", SCHEMA_WARNING, CALL_EVENTS, ("completed",)),
    )
    username, password = a.text("username"), a.text("password")
    if (username is None) != (password is None):
        r.warn(13249, "<Sip> needs both username and password; using neither")
        return target
    return replace(target, username=username, password=password)


def _at_most_ten(r: _Reader, targets: list[DialTarget]) -> list[DialTarget]:
    kept: list[DialTarget] = []
    for kind, code in (("number", SCHEMA_WARNING), ("sip", 13250)):
        count = sum(t.kind == kind for t in targets)
        if count > MAX_TARGETS_PER_KIND:
            r.warn(code, f"<Dial> has {count} {kind} targets; only the first {MAX_TARGETS_PER_KIND} ring")
    seen = {"number": 0, "sip": 0}
    for target in targets:
        seen[target.kind] += 1
        if seen[target.kind] <= MAX_TARGETS_PER_KIND:
            kept.append(target)
    return kept


# ---- Hangup, Redirect, Reject, Echo ---------------------------------------------------------------------


def _hangup(r: _Reader, el: Element) -> Hangup:
    r.attrs(el, ())
    r.check_empty(el)
    return Hangup()


def _redirect(r: _Reader, el: Element) -> Redirect:
    a = r.attrs(el, ("method",))
    for child in el:
        r.warn(SCHEMA_WARNING, f"<{child.tag}> is not allowed in <Redirect>; ignored")
    # an empty URL is the empty relative reference: the current document, as a browser resolves it
    return Redirect(url=(el.text or "").strip(), method=a.method("method", 13710))


def _reject(r: _Reader, el: Element) -> Reject:
    a = r.attrs(el, ("reason",))
    r.check_empty(el)
    return Reject(reason=a.choice("reason", 13810, frozenset({"rejected", "busy"}), "rejected"))


def _echo(r: _Reader, el: Element) -> Echo:
    if r.dialect == "signalwire":  # SignalWire: timeout 5 to 120 seconds, 60 by default
        a = r.attrs(el, ("timeout",))
        r.check_empty(el)
        return Echo(timeout_s=a.integer("timeout", SCHEMA_WARNING, 60, 5, 120))
    r.attrs(el, ())
    r.check_empty(el)
    return Echo()


# ---- Start and Stop: a call's recording (their other nouns are not supported) ---------------------

RECORDING_TRACKS = frozenset({"inbound", "outbound", "both"})


def _only_recording(r: _Reader, el: Element) -> Element | None:
    """The one <Recording> inside <Start> or <Stop>; 13750 for the nouns Callgate does not run."""
    if r.dialect != "twilio":
        raise DocumentError(VERB_NOT_SUPPORTED, f"<{el.tag}> is not supported by Callgate")
    r.attrs(el, ())
    r.check_text(el.text, el.tag)
    found: Element | None = None
    for child in el:
        r.check_text(child.tail, el.tag)
        if child.tag != "Recording":
            raise DocumentError(VERB_NOT_SUPPORTED, f"<{el.tag}><{child.tag}> is not supported by Callgate")
        if found is not None:
            r.warn(SCHEMA_WARNING, f"<{el.tag}> takes one <Recording>; the others are ignored")
            continue
        found = child
    if found is None:
        r.warn(SCHEMA_WARNING, f"<{el.tag}> without a <Recording> does nothing; skipped")
    return found


def _start(r: _Reader, el: Element) -> StartRecording | None:
    child = _only_recording(r, el)
    if child is None:
        return None
    a = r.attrs(
        child,
        (
            "recordingStatusCallback",
            "recordingStatusCallbackMethod",
            "recordingStatusCallbackEvent",
            "trim",
            "track",
            "channels",
            "name",
        ),
    )
    r.check_empty(child)
    return StartRecording(
        recording_status_callback=a.url("recordingStatusCallback"),
        recording_status_callback_method=a.method("recordingStatusCallbackMethod", SCHEMA_WARNING),
        recording_status_callback_events=a.events(
            "recordingStatusCallbackEvent", SCHEMA_WARNING, RECORDING_EVENTS, ("completed",)
        ),
        trim=a.choice("trim", SCHEMA_WARNING, frozenset({"trim-silence", "do-not-trim"}), "trim-silence"),
        track=a.choice("track", SCHEMA_WARNING, RECORDING_TRACKS, "both"),
        channels=a.choice("channels", SCHEMA_WARNING, frozenset({"mono", "dual"}), "dual"),
        name=a.text("name"),
    )


def _stop(r: _Reader, el: Element) -> StopRecording | None:
    child = _only_recording(r, el)
    if child is None:
        return None
    a = r.attrs(child, ("name",))
    r.check_empty(child)
    return StopRecording(name=a.text("name"))


VERBS: dict[str, Callable[[_Reader, Element], Verb | None]] = {
    "Say": _say,
    "Play": _play,
    "Pause": _pause,
    "Gather": _gather,
    "Record": _record,
    "Dial": _dial,
    "Hangup": _hangup,
    "Redirect": _redirect,
    "Reject": _reject,
    "Echo": _echo,
    "Start": _start,
    "Stop": _stop,
}
