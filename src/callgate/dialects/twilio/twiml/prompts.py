"""<Say>, <Play> and <Pause>: verbs of their own, and the prompts nested in <Gather>."""

from __future__ import annotations

import re
from collections.abc import Callable
from xml.etree.ElementTree import Element

from callgate.core.verbs import Pause, Play, Prompt, Say, cut_text
from callgate.dialects.twilio.twiml.reader import SCHEMA_WARNING, Reader

SSML_TAGS = frozenset({"break", "emphasis", "lang", "p", "phoneme", "prosody", "s", "say-as", "sub", "w"})
DTMF_RE = re.compile(r"[0-9A-DwW#*]+")  # Play digits: 0-9, A-D, # and *; w/W pause 0.5 s


def read_say(r: Reader, el: Element, *, in_gather: bool = False) -> Say | None:
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


def _spoken_text(r: Reader, say: Element) -> str:
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


def read_play(r: Reader, el: Element, *, in_gather: bool = False) -> Play | None:
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


def read_pause(r: Reader, el: Element, *, in_gather: bool = False) -> Pause:
    a = r.attrs(el, ("length",))
    r.check_empty(el)
    return Pause(length_s=float(a.integer("length", 13910, 1, 1)))


PROMPTS: dict[str, Callable[..., Prompt | None]] = {"Say": read_say, "Play": read_play, "Pause": read_pause}
