"""Declarative request parameters: one table per operation drives parsing, validation and OpenAPI.

A `Param` names the wire parameter, its kind and limits, the neutral attribute it fills and the
vendor error code a bad value answers with. `parse_form` turns the repeated-key form a vendor SDK
sends into typed values and a list of `InvalidParameter` errors; `openapi_schema` renders the same
table, so the served OpenAPI document can never drift from what the routes accept.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from enum import Enum
from functools import lru_cache
from typing import Any, TypeVar
from urllib.parse import unquote_plus, urlsplit

from callgate.core.errors import InvalidParameter


class Kind(Enum):
    STRING = "string"
    URL = "url"
    INT = "integer"
    BOOL = "boolean"
    ENUM = "enum"
    DATE_TIME = "date-time"


@dataclass(frozen=True, slots=True)
class Param:
    """One request parameter.

    `code` is the error code for a bad value; `required_code` makes the parameter required.
    `many` accepts the parameter repeated (`StatusCallbackEvent=a&StatusCallbackEvent=b`) and,
    with `split_spaces`, also space-separated in one value.
    """

    name: str
    kind: Kind = Kind.STRING
    attr: str | None = None
    code: int = 20001
    required_code: int | None = None
    description: str = ""
    choices: tuple[str, ...] = ()
    case_insensitive: bool = False
    minimum: int | None = None
    maximum: int | None = None
    pattern: str | None = None
    max_length: int | None = None
    many: bool = False
    split_spaces: bool = False
    default: Any = None
    missing_message: str | None = None
    #: a blank value clears the field (None) instead of counting as absent
    clearable: bool = False
    check: Callable[[str], str | None] | None = field(default=None, compare=False)

    @property
    def target(self) -> str:
        return self.attr or _snake_cached(self.name)


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


@lru_cache(maxsize=1024)
def _snake_cached(name: str) -> str:
    return _snake(name)


# The seeds' booleans are `true` and `false`; SDKs send them in either case (twilio 6.x: `True`).
_TRUE = "true"
_FALSE = "false"


_WHITESPACE = re.compile(r"\s")

T = TypeVar("T")


def short_cache(fn: Callable[[str], T], max_len: int = 256, maxsize: int = 4096) -> Callable[[str], T]:
    """Memoise `fn` for short strings only: clients choose these strings, so a long one must not
    pin its megabyte in a cache."""
    cached = lru_cache(maxsize=maxsize)(fn)

    def call(value: str) -> T:
        return cached(value) if len(value) <= max_len else fn(value)

    call.__doc__ = fn.__doc__
    call.__wrapped__ = fn  # type: ignore[attr-defined]
    return call


def _is_http_url(value: str) -> bool:
    """An absolute http(s) URL with a valid host name, as the vendors require for webhook URLs."""
    if _WHITESPACE.search(value):
        return False
    try:
        parts = urlsplit(value)
        _ = parts.port  # raises on a bad port
    except ValueError:
        return False
    host = parts.hostname
    # Twilio's seed: "URLs must contain a valid hostname (underscores are not permitted)".
    return parts.scheme in {"http", "https"} and bool(host) and "_" not in (host or "")


# Applications send the same few webhook URLs with every request.
is_http_url = short_cache(_is_http_url)


def _convert(param: Param, raw: str) -> Any:
    """The typed value of `raw`, or raise ValueError with the reason."""
    if "\x00" in raw:
        # PostgreSQL cannot store NUL in text; no vendor parameter has a use for it.
        raise ValueError(f"{param.name} must not contain NUL characters")
    if param.max_length is not None and len(raw) > param.max_length:
        raise ValueError(f"{param.name} must be at most {param.max_length} characters")
    if param.kind is Kind.URL:
        if not is_http_url(raw):
            raise ValueError(f"{param.name} is not a valid URL: {raw}")
        return raw
    if param.kind is Kind.INT:
        text = raw.strip()
        if not re.fullmatch(r"[+-]?\d+", text):
            raise ValueError(f"{param.name} must be an integer: {raw}")
        value = int(text)
        if (param.minimum is not None and value < param.minimum) or (
            param.maximum is not None and value > param.maximum
        ):
            raise ValueError(f"{param.name} must be between {param.minimum} and {param.maximum}: {raw}")
        return value
    if param.kind is Kind.BOOL:
        low = raw.strip().lower()
        if low == _TRUE:
            return True
        if low == _FALSE:
            return False
        raise ValueError(f"{param.name} must be true or false: {raw}")
    if param.kind is Kind.DATE_TIME:
        return _date_or_instant(param.name, raw)
    if param.kind is Kind.ENUM:
        for choice in param.choices:
            if raw == choice or (param.case_insensitive and raw.lower() == choice.lower()):
                return choice
        raise ValueError(f"{param.name} must be one of {', '.join(param.choices)}: {raw}")
    if param.pattern is not None and not re.fullmatch(param.pattern, raw):
        raise ValueError(f"{param.name} is not valid: {raw}")
    if param.check is not None:
        reason = param.check(raw)
        if reason:
            raise ValueError(reason)
    return raw


_DATE = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)
# RFC 3339 5.6 date-time (T and Z in either case); any number of fraction digits, microseconds kept
_RFC3339 = re.compile(
    r"(\d{4}-\d{2}-\d{2})[Tt](\d{2}:\d{2}:\d{2})(?:\.(\d{1,6})\d*)?(?:([Zz])|([+-]\d{2}:\d{2}))",
    re.ASCII,
)
_UTC_MIN = datetime.min.replace(tzinfo=UTC)
_UTC_MAX = datetime.max.replace(tzinfo=UTC)


def _date_or_instant(name: str, raw: str) -> str:
    """A bare date (`YYYY-MM-DD`) as given, or an RFC 3339 date-time as the ISO form of its UTC
    instant (one the standard library reads back; the edges of time stay at the edges)."""
    try:
        if _DATE.fullmatch(raw):
            date.fromisoformat(raw)
            return raw
        match = _RFC3339.fullmatch(raw)
        if match is not None:
            day, clock, fraction, _zulu, offset = match.groups()
            text = f"{day}T{clock}{'.' + fraction.ljust(6, '0') if fraction else ''}{offset or '+00:00'}"
            moment = datetime.fromisoformat(text)
            try:
                return moment.astimezone(UTC).isoformat()
            except OverflowError:  # 0001-01-01T00:00:00+01:00 and its like
                return (_UTC_MIN if moment.year == 1 else _UTC_MAX).isoformat()
    except ValueError:
        pass
    raise ValueError(f"{name} must be a date (YYYY-MM-DD) or an RFC 3339 date-time: {raw}")


def _blank_is_absent(param: Param) -> bool:
    """Whether a blank value counts as not given: for free text only. A blank number, boolean, URL,
    date, choice or patterned value is a bad value (unless it clears a field: `clearable`)."""
    return param.kind is Kind.STRING and param.pattern is None


# (id(param), raw) -> (param, its value): an application sends the same values request after request.
_CONVERTED: dict[tuple[int, str], tuple[Param, Any]] = {}
_CONVERTED_MAX = 4096


def _converted(param: Param, raw: str) -> Any:
    """`_convert(param, raw)`, remembered for short values (the parameter tables are module
    constants; the param is kept beside its value so that a reused id cannot match). Values are
    immutable (str, int, bool); a refused value is not remembered."""
    if len(raw) > 256:
        return _convert(param, raw)
    key = (id(param), raw)
    hit = _CONVERTED.get(key)
    if hit is not None and hit[0] is param:
        return hit[1]
    value = _convert(param, raw)
    if len(_CONVERTED) >= _CONVERTED_MAX:
        _CONVERTED.clear()
    _CONVERTED[key] = (param, value)
    return value


class Form(dict[str, list[str]]):
    """Request parameters by name, every value of a repeated key kept in order."""

    @classmethod
    def from_pairs(cls, pairs: Iterable[tuple[str, str]]) -> Form:
        form = cls()
        for key, value in pairs:
            form.setdefault(key, []).append(value)
        return form

    @classmethod
    def from_urlencoded(cls, text: str) -> Form:
        """Parse `a=1&b=2&b=3` like `urllib.parse.parse_qsl(keep_blank_values=True)`, a little faster:
        most values have nothing to unquote."""
        form = cls()
        for part in text.split("&"):
            if not part:
                continue
            key, _, value = part.partition("=")
            if "%" in key or "+" in key:
                key = _unquote(key)
            if "%" in value or "+" in value:
                value = _unquote(value)
            form.setdefault(key, []).append(value)
        return form


# The same numbers and webhook URLs come back request after request.
_unquote = short_cache(unquote_plus)


@dataclass(slots=True)
class Parsed:
    """Typed values by target attribute, the wire names that were present, and every error found."""

    values: dict[str, Any] = field(default_factory=dict)
    present: set[str] = field(default_factory=set)
    errors: list[InvalidParameter] = field(default_factory=list)
    #: the raw value of each parameter whose value was refused
    refused: dict[str, str] = field(default_factory=dict)

    def raise_first(self) -> None:
        if self.errors:
            raise self.errors[0]


def parse_form(form: Form, params: Sequence[Param]) -> Parsed:
    """Parse a form (a mapping of name to the list of its values) against `params`.

    Unknown keys are ignored, as the vendors do. Errors come in the order of `params`.
    """
    out = Parsed()
    table = _Table.of(tuple(params))
    for name, raws in form.items():
        entry = table.by_name.get(name)
        if entry is None:
            continue
        param, target = entry
        if param.many and param.split_spaces:
            raws = [part for raw in raws for part in raw.split()]
        if raws and param.clearable and raws[-1] == "":
            out.present.add(name)
            out.values[target] = None
            continue
        if not raws:
            continue
        if not param.many and raws[-1] == "":
            if _blank_is_absent(param):
                continue
            out.present.add(name)
            out.errors.append(InvalidParameter(f"{name} must not be empty", code=param.code, param=name))
            continue
        out.present.add(name)
        try:
            if param.many:
                out.values[target] = tuple(_converted(param, raw) for raw in raws)
            else:
                out.values[target] = _converted(param, raws[-1])
        except ValueError as exc:
            out.errors.append(InvalidParameter(str(exc), code=param.code, param=name))
            out.refused[name] = raws[-1]
    for param in table.required:
        if param.name not in out.present:
            out.errors.append(
                InvalidParameter(required_message(param), code=param.required_code, param=param.name)
            )
    if len(out.errors) > 1:
        out.errors.sort(key=lambda e: table.order[e.param or ""])
    return out


@dataclass(frozen=True, slots=True)
class _Table:
    """A parameter table indexed for parsing: by name (with each target), required ones, order."""

    by_name: dict[str, tuple[Param, str]]
    required: tuple[Param, ...]
    order: dict[str, int]

    @staticmethod
    def of(params: tuple[Param, ...]) -> _Table:
        # Keyed by identity: the tables are module constants, and hashing 40 Params costs more
        # than parsing the form. The tuple is kept in the value so its id cannot be reused.
        hit = _TABLES.get(id(params))
        if hit is None or hit[0] is not params:
            table = _Table(
                by_name={p.name: (p, p.target) for p in params},
                required=tuple(p for p in params if p.required_code is not None),
                order={p.name: i for i, p in enumerate(params)},
            )
            if len(_TABLES) > 256:
                _TABLES.clear()
            _TABLES[id(params)] = hit = (params, table)
        return hit[1]


_TABLES: dict[int, tuple[tuple[Param, ...], _Table]] = {}


def param_order(params: tuple[Param, ...]) -> dict[str, int]:
    """Each parameter's position in its table: the order errors are reported in."""
    return _Table.of(params).order


def required_message(param: Param) -> str:
    return param.missing_message or f"Missing required parameter {param.name} in the post body"


_NO_NUL = "^[^\\x00]*$"


def _boolean_schema() -> dict[str, Any]:
    """A boolean as `_convert` reads one: `true` or `false` (any case, which JSON Schema cannot say)."""
    return {"type": "boolean"}


def openapi_parameter_schema(param: Param) -> dict[str, Any]:
    """The JSON Schema of one parameter's value."""
    schema: dict[str, Any]
    if param.kind is Kind.INT:
        schema = {"type": "integer"}
        if param.minimum is not None:
            schema["minimum"] = param.minimum
        if param.maximum is not None:
            schema["maximum"] = param.maximum
    elif param.kind is Kind.BOOL:
        schema = _boolean_schema()
    elif param.kind is Kind.ENUM:
        schema = {"type": "string", "enum": list(param.choices)}
    elif param.kind is Kind.URL:
        schema = {"type": "string", "format": "uri"}
        if param.clearable:  # a blank value clears the field
            schema = {"type": "string", "anyOf": [{"format": "uri"}, {"maxLength": 0}]}
    elif param.kind is Kind.DATE_TIME:
        schema = {"type": "string", "anyOf": [{"format": "date"}, {"format": "date-time"}]}
    else:
        # Free text may hold anything but NUL (PostgreSQL cannot store it).
        schema = {"type": "string", "pattern": f"^{param.pattern}$" if param.pattern else _NO_NUL}
        if param.required_code is not None:
            schema["minLength"] = 1  # a blank value counts as absent
    if param.max_length is not None:
        schema["maxLength"] = param.max_length
    if param.default is not None:
        schema["default"] = param.default
    if param.many:
        schema = {"type": "array", "items": schema}
    if param.description:
        schema["description"] = param.description
    # Which vendor error code a bad value of this parameter answers with.
    schema["x-error-code"] = param.code
    return schema


def openapi_form_body(params: Iterable[Param]) -> dict[str, Any]:
    """An OpenAPI requestBody for a form-encoded operation."""
    plist = list(params)
    schema: dict[str, Any] = {
        "type": "object",
        "properties": {p.name: openapi_parameter_schema(p) for p in plist},
    }
    required = [p.name for p in plist if p.required_code is not None]
    if required:
        schema["required"] = required
    # As Twilio's own document: a body is required only where a parameter is (an update that
    # changes nothing answers the resource as it is).
    return {"required": bool(required), "content": {"application/x-www-form-urlencoded": {"schema": schema}}}


def openapi_query(params: Iterable[Param]) -> list[dict[str, Any]]:
    return [
        {
            "name": p.name,
            "in": "query",
            "required": p.required_code is not None,
            "schema": openapi_parameter_schema(p),
        }
        for p in params
    ]


__all__ = [
    "Form",
    "Kind",
    "Param",
    "Parsed",
    "is_http_url",
    "openapi_form_body",
    "openapi_query",
    "parse_form",
]
