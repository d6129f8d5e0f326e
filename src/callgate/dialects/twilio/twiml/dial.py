"""<Dial> and its <Number> and <Sip> nouns."""

from __future__ import annotations

import re
from dataclasses import replace
from xml.etree.ElementTree import Element

from callgate.core.verbs import Dial, DialTarget, DocumentError
from callgate.dialects.twilio.twiml.reader import SCHEMA_WARNING, VERB_NOT_SUPPORTED, Reader, short
from callgate.dialects.twilio.twiml.recording import RECORDING_EVENTS

# Twilio's <Dial> nouns that Callgate does not run (13750; 12200 directly under <Response>)
UNSUPPORTED_NOUNS = {
    "twilio": frozenset({"Application", "Client", "Conference", "Queue", "Sim", "WhatsApp"}),
    "signalwire": frozenset({"Conference", "Queue", "Verto"}),
}
SEND_DIGITS_RE = re.compile(r"[0-9wW#*]+")
PHONE_RE = re.compile(r"\+?[0-9][0-9\-(). ]*")
SIP_URI_RE = re.compile(r"sips?:\S+", re.IGNORECASE)
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
CALL_EVENTS = frozenset({"initiated", "ringing", "answered", "completed"})
MAX_TARGETS_PER_KIND = 10  # Twilio: up to ten <Number> (or <Sip>) nouns ring at once

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


def read_dial(r: Reader, el: Element) -> Dial:
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


def _number_target(r: Reader, text: str) -> DialTarget | None:
    if PHONE_RE.fullmatch(text):
        return DialTarget(kind="number", address=text)
    r.warn(13223, f"<Dial> {short(text)!r} is not a phone number; skipped")
    return None


def _noun(r: Reader, el: Element) -> DialTarget | None:
    is_sip = el.tag == "Sip"
    a = r.attrs(el, NOUN_ATTRIBUTES + (("username", "password") if is_sip else ()))
    for child in el:
        r.warn(SCHEMA_WARNING, f"<{child.tag}> is not allowed in <{el.tag}>; ignored")
    address = (el.text or "").strip()
    if is_sip and not SIP_URI_RE.fullmatch(address):
        r.warn(13243, f"<Sip> {short(address)!r} is not a sip: or sips: URI; skipped")
        return None
    if not is_sip and not PHONE_RE.fullmatch(address):
        r.warn(13223, f"<Number> {short(address)!r} is not a phone number; skipped")
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


def _at_most_ten(r: Reader, targets: list[DialTarget]) -> list[DialTarget]:
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
