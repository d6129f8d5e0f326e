"""<Gather>: its attributes, and the prompts it plays while it listens."""

from __future__ import annotations

import re
from dataclasses import replace
from xml.etree.ElementTree import Element

from callgate.core.verbs import Gather, Prompt
from callgate.dialects.twilio.twiml.prompts import PROMPTS
from callgate.dialects.twilio.twiml.reader import DIGITS_RE, Reader

LANGUAGE_RE = re.compile(r"[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*")


def read_gather(r: Reader, el: Element) -> Gather:
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
