"""Webhook signatures: X-Twilio-Signature and X-SignalWire-Signature.

Twilio (docs "Webhooks security"; twilio-python `request_validator.py`): HMAC-SHA1, keyed with the
account's Auth Token, over the full URL followed by the POST parameters sorted by name, each name
followed by its value; base64. A GET carries its parameters in the query string, so the signed data is
the URL alone. A request with a JSON body is signed as a GET would be, after a `bodySHA256` query
parameter (the hex SHA-256 of the body) has been added to the URL.

The validators accept the URL with and without its default port (":443"/":80"), so either form
verifies; we sign the URL exactly as it goes on the wire. Repeated names: twilio-python sorts the
distinct names and, under each, the distinct values (`sorted(set(values))`); we do the same, so an
identical name=value pair sent twice is signed once.

SignalWire (its SDK `signalwire/request_validator.py` and the Server SDK docs, "Webhook signature
validation"): every webhook is signed with the project's Signing Key. Compatibility (cXML/LaML)
webhooks, form-encoded, use Twilio's algorithm unchanged and carry the value in X-SignalWire-Signature
and, for drop-in use of Twilio's validators, in X-Twilio-Signature. RELAY/SWML webhooks with a JSON
body use lower-case hex HMAC-SHA1 over the URL followed by the raw body.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable, Mapping, Sequence
from urllib.parse import urlsplit, urlunsplit

TWILIO_SIGNATURE_HEADER = "X-Twilio-Signature"
SIGNALWIRE_SIGNATURE_HEADER = "X-SignalWire-Signature"

HMAC_SHA1 = "HMAC_SHA1"
HMAC_SHA256 = "HMAC_SHA256"
_HASHES = {HMAC_SHA1: hashlib.sha1, HMAC_SHA256: hashlib.sha256}

#: POST parameters: a mapping (a value may be a list of values, a multidict's `getlist` is used when
#: present) or (name, value) pairs in the order they are sent.
Params = Mapping[str, str | Sequence[str]] | Iterable[tuple[str, str]] | None


def _grouped(params: Params) -> dict[str, set[str]]:
    grouped: dict[str, set[str]] = {}
    if params is None:
        return grouped
    if isinstance(params, Mapping):
        getlist = getattr(params, "getlist", None)
        for name in params:
            value = getlist(name) if callable(getlist) else params[name]
            values = [value] if isinstance(value, str) else list(value)
            grouped.setdefault(str(name), set()).update(str(v) for v in values)
        return grouped
    for name, value in params:
        grouped.setdefault(name, set()).add(value)
    return grouped


def signing_string(url: str, params: Params) -> str:
    """The data Twilio signs: the URL, then every distinct name+value, names and values sorted."""
    grouped = _grouped(params)
    return url + "".join(name + value for name in sorted(grouped) for value in sorted(grouped[name]))


def _hmac(key: str, data: str, algorithm: str = HMAC_SHA1) -> bytes:
    try:
        digest = _HASHES[algorithm.upper()]
    except KeyError:
        raise ValueError(f"unsupported signature algorithm {algorithm!r}") from None
    return hmac.new(key.encode("utf-8"), data.encode("utf-8"), digest).digest()


def twilio_signature(url: str, params: Params, token: str, *, algorithm: str = HMAC_SHA1) -> str:
    """X-Twilio-Signature of a request to `url` (as sent, query included) with these POST parameters.

    `params` is None (or empty) for a GET. `algorithm` HMAC_SHA256 is what Twilio uses with a
    shared key announced in X-Twilio-Webhooks-Signature-Settings; the Auth Token signs with HMAC_SHA1.
    """
    return base64.b64encode(_hmac(token, signing_string(url, params), algorithm)).decode("ascii")


def _add_query_param(url: str, name: str, value: str) -> str:
    parts = urlsplit(url)
    query = f"{parts.query}&{name}={value}" if parts.query else f"{name}={value}"
    return urlunsplit(parts._replace(query=query))


def body_sha256(body: str | bytes) -> str:
    """The hex SHA-256 of a request body, the value of Twilio's `bodySHA256` query parameter."""
    return hashlib.sha256(body.encode("utf-8") if isinstance(body, str) else body).hexdigest()


def twilio_json_signature(url: str, body: str | bytes, token: str) -> tuple[str, str]:
    """(the URL to send, with `bodySHA256` added; its X-Twilio-Signature) for a request with a JSON body."""
    signed_url = _add_query_param(url, "bodySHA256", body_sha256(body))
    return signed_url, twilio_signature(signed_url, None, token)


def signalwire_signature(url: str, params: Params, signing_key: str) -> str:
    """X-SignalWire-Signature of a form-encoded Compatibility webhook: Twilio's algorithm, the Signing Key."""
    return twilio_signature(url, params, signing_key)


def signalwire_body_signature(url: str, body: str, signing_key: str) -> str:
    """X-SignalWire-Signature of a RELAY/SWML webhook with a raw (JSON) body: hex HMAC-SHA1 of URL + body."""
    return hmac.new(signing_key.encode("utf-8"), (url + body).encode("utf-8"), hashlib.sha1).hexdigest()


def signature_headers(dialect: str, url: str, params: Params, token: str) -> dict[str, str]:
    """Every signature header a form-encoded (or GET) webhook of this dialect carries.

    `token` is the key the vendor signs with: Twilio's Auth Token, SignalWire's Signing Key.
    """
    if dialect == "twilio":
        return {TWILIO_SIGNATURE_HEADER: twilio_signature(url, params, token)}
    if dialect == "signalwire":
        signature = signalwire_signature(url, params, token)
        return {SIGNALWIRE_SIGNATURE_HEADER: signature, TWILIO_SIGNATURE_HEADER: signature}
    raise ValueError(f"no webhook signature for dialect {dialect!r}")
