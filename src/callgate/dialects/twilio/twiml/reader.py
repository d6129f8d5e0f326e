"""Reading one TwiML element: its attributes against the vendor's schema, typed, with the vendor's
warning codes; what is tolerated becomes a `Notice` (see the package's theory of operation)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from xml.etree.ElementTree import Element

from callgate.core.verbs import Notice

SCHEMA_WARNING = 12200  # Twilio: "Schema validation warning"
VERB_NOT_SUPPORTED = 13750  # Twilio: "Twiml verb not supported by this API version"

DIGITS_RE = re.compile(r"[0-9]{1,9}")  # longer: out of every range (and int() refuses 4300+)

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


class Reader:
    """Checks elements against the schema for the verb readers, collecting the notices on the way."""

    def __init__(self, dialect: str) -> None:
        self.dialect = dialect
        self.notices: list[Notice] = []

    def warn(self, code: int, message: str, level: str = "warning") -> None:
        self.notices.append(Notice(code, message, level))

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
            self.warn(SCHEMA_WARNING, f"text {short(text)!r} is not allowed in <{where}>; ignored")

    def check_empty(self, el: Element) -> None:
        """Warn about content in a verb that takes none."""
        self.check_text(el.text, el.tag)
        for child in el:
            self.warn(SCHEMA_WARNING, f"<{child.tag}> is not allowed in <{el.tag}>; ignored")
            self.check_text(child.tail, el.tag)

    def attrs(self, el: Element, allowed: Iterable[str]) -> Attrs:
        self.check_attributes(el, frozenset(allowed))
        return Attrs(self, el)


class Attrs:
    """Typed access to one element's attributes; a bad value warns with `code` and gives the default."""

    def __init__(self, reader: Reader, el: Element) -> None:
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


def short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= 40 else text[:37] + "..."
