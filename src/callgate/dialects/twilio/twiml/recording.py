"""<Record>, and the call recordings <Start><Recording> and <Stop><Recording> control (the other
nouns of <Start> and <Stop> are not supported)."""

from __future__ import annotations

import re
from xml.etree.ElementTree import Element

from callgate.core.verbs import DocumentError, Record, StartRecording, StopRecording
from callgate.dialects.twilio.twiml.reader import SCHEMA_WARNING, VERB_NOT_SUPPORTED, Reader

RECORDING_EVENTS = frozenset({"in-progress", "completed", "absent"})
RECORDING_TRACKS = frozenset({"inbound", "outbound", "both"})


def read_record(r: Reader, el: Element) -> Record:
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


def _only_recording(r: Reader, el: Element) -> Element | None:
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


def read_start(r: Reader, el: Element) -> StartRecording | None:
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


def read_stop(r: Reader, el: Element) -> StopRecording | None:
    child = _only_recording(r, el)
    if child is None:
        return None
    a = r.attrs(child, ("name",))
    r.check_empty(child)
    return StopRecording(name=a.text("name"))
