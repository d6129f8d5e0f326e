"""<Hangup>, <Redirect>, <Reject> and <Echo>: the verbs that end, move or loop back the call."""

from __future__ import annotations

from xml.etree.ElementTree import Element

from callgate.core.verbs import Echo, Hangup, Redirect, Reject
from callgate.dialects.twilio.twiml.reader import SCHEMA_WARNING, Reader


def read_hangup(r: Reader, el: Element) -> Hangup:
    r.attrs(el, ())
    r.check_empty(el)
    return Hangup()


def read_redirect(r: Reader, el: Element) -> Redirect:
    a = r.attrs(el, ("method",))
    for child in el:
        r.warn(SCHEMA_WARNING, f"<{child.tag}> is not allowed in <Redirect>; ignored")
    # an empty URL is the empty relative reference: the current document, as a browser resolves it
    return Redirect(url=(el.text or "").strip(), method=a.method("method", 13710))


def read_reject(r: Reader, el: Element) -> Reject:
    a = r.attrs(el, ("reason",))
    r.check_empty(el)
    return Reject(reason=a.choice("reason", 13810, frozenset({"rejected", "busy"}), "rejected"))


def read_echo(r: Reader, el: Element) -> Echo:
    if r.dialect == "signalwire":  # SignalWire: timeout 5 to 120 seconds, 60 by default
        a = r.attrs(el, ("timeout",))
        r.check_empty(el)
        return Echo(timeout_s=a.integer("timeout", SCHEMA_WARNING, 60, 5, 120))
    r.attrs(el, ())
    r.check_empty(el)
    return Echo()
