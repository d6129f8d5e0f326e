"""From validated request parameters to neutral commands: CreateCall, UpdateCall, CallFilter."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from typing import Any

from callgate.core.call import CallFilter, CallOptions, CreateCall, UpdateCall
from callgate.core.errors import InvalidParameter
from callgate.core.status import CallStatus
from callgate.dialects.params import Param, Parsed, param_order
from callgate.dialects.twilio import schemas
from callgate.dialects.twilio.addresses import AddressKind, address_kind, valid_caller
from callgate.dialects.twilio.flavor import Flavor
from callgate.dialects.twilio.markup import check_markup

_OPTION_NAMES = frozenset(CallOptions.__dataclass_fields__)
MACHINE_WORDS_DEFAULT = 6  # SignalWire's MachineWordsThreshold default (the schema's too)


def _markup_names(flavor: Flavor) -> str:
    return ", ".join(flavor.markup_params)


# The seed: with ApplicationSid, the request's own document and status callback are ignored and the
# Application's are used; with Url and Twiml both given, Twiml is ignored.
_APPLICATION_OVERRIDES = (
    "url",
    "method",
    "fallback_url",
    "fallback_method",
    "status_callback",
    "status_callback_method",
    "status_callback_events",
    "markup",
)


def _choose_handler(parsed: Parsed, flavor: Flavor, *, required: bool) -> None:
    """What handles the call: ApplicationSid, else Url, else the inline document (in the seed's order);
    what it overrides is dropped. Twilio error 21205 when none is given and one is `required`."""
    given = [n for n in ("ApplicationSid", "Url", *flavor.markup_params) if n in parsed.present]
    if not given:
        if required:
            if flavor.name == "twilio":
                message = (
                    "Url parameter is required. For more information, see http://www.twilio.com/docs/api/twiml"
                )
            else:
                message = f"Url, {_markup_names(flavor)} or ApplicationSid parameter is required"
            parsed.errors.append(InvalidParameter(message, code=schemas.BAD_URL, param="Url"))
        return
    values = parsed.values
    if given[0] == "ApplicationSid":
        ignored: tuple[str, ...] = _APPLICATION_OVERRIDES
    elif given[0] == "Url":
        ignored = ("markup",)
    else:
        return
    for attr in ignored:
        values.pop(attr, None)
    parsed.present.difference_update(flavor.markup_params)
    if parsed.errors:  # a bad value of an ignored parameter is no error either
        ignored_names = _names_of(flavor, ignored)
        parsed.errors[:] = [e for e in parsed.errors if e.param not in ignored_names]


@cache
def _names_of(flavor: Flavor, targets: tuple[str, ...]) -> frozenset[str]:
    return frozenset(p.name for p in schemas.create_call(flavor) if p.target in targets)


def _check_markup(parsed: Parsed, flavor: Flavor) -> None:
    markup = parsed.values.get("markup")
    name = next((n for n in flavor.markup_params if n in parsed.present), None)
    if markup is None or name is None:
        return
    try:
        check_markup(name, markup, schemas.MARKUP_MAX_CHARS)
    except InvalidParameter as exc:
        parsed.errors.append(exc)


def _meant_kind(to: str | None) -> AddressKind | None:
    """What a refused To was meant to be, so that From is still judged (every problem is reported)."""
    if to is None:
        return None
    low = to.lower()
    if low.startswith(("sip:", "sips:")):
        return AddressKind.SIP
    if low.startswith("client:"):
        return AddressKind.CLIENT
    return AddressKind.PHONE


def _sort(parsed: Parsed, params: tuple[Param, ...]) -> None:
    if len(parsed.errors) > 1:
        order = param_order(params)
        parsed.errors.sort(key=lambda e: order.get(e.param or "", len(order)))


def create_call(parsed: Parsed, flavor: Flavor) -> CreateCall:
    """The CreateCall command, or raise the first problem (every problem is in `parsed.errors`)."""
    values = parsed.values
    to = values.get("to")
    callee = address_kind(to) if to else _meant_kind(parsed.refused.get("To"))
    from_ = values.get("from_")
    to_given = "To" in parsed.present or "To" in parsed.refused
    if from_ is not None and to_given and not valid_caller(from_, callee):
        parsed.errors.append(
            InvalidParameter(f"From is not a valid phone number: {from_}", code=21212, param="From")
        )
    caller_id = values.get("caller_id")
    if caller_id is not None and not valid_caller(caller_id, callee):
        parsed.errors.append(
            InvalidParameter(
                f"CallerId is not a valid phone number: {caller_id}", code=21212, param="CallerId"
            )
        )
    _choose_handler(parsed, flavor, required=True)
    _check_markup(parsed, flavor)
    app_id = None
    if "application_sid" in values:
        app_id = flavor.parse_application(values["application_sid"])
        if app_id is None:
            parsed.errors.append(
                InvalidParameter(
                    f"ApplicationSid is invalid: {values['application_sid']}",
                    code=schemas.BAD_APPLICATION_SID,
                    param="ApplicationSid",
                )
            )
    _sort(parsed, schemas.create_call(flavor))
    parsed.raise_first()
    options: dict[str, Any] = {k: v for k, v in values.items() if k in _OPTION_NAMES}
    options["application_id"] = app_id
    options["dialect"] = flavor.name
    if options.get("machine_detection") == "none":
        options["machine_detection"] = None
    if flavor.amd_words_and_partials:
        options.setdefault("machine_words_threshold", MACHINE_WORDS_DEFAULT)
    else:  # SignalWire's parameters, accepted elsewhere and left unused
        options.pop("machine_words_threshold", None)
        options.pop("async_amd_partial_results", None)
    return CreateCall(to=to, from_=from_, options=_call_options(options))  # type: ignore[arg-type]


# An application places its calls with the same options request after request: one immutable
# CallOptions for each set (a frozen dataclass of 40 fields costs microseconds to build, and the
# store writes the JSON of an instance it has seen once; see codec.options_json).
_OPTIONS: dict[tuple[tuple[str, Any], ...], CallOptions] = {}
_OPTIONS_MAX = 1024


def _call_options(options: dict[str, Any]) -> CallOptions:
    """Only options of short values are remembered (clients choose them: an inline document or a
    long URL must not pin its kilobytes here), and none with a SIP password."""
    key = tuple(options.items())
    hit = _OPTIONS.get(key)
    if hit is not None:
        return hit
    made = CallOptions(**options)
    if options.get("sip_auth_password") is None and all(
        len(v) <= _REMEMBERED_LENGTH for v in options.values() if isinstance(v, str)
    ):
        if len(_OPTIONS) >= _OPTIONS_MAX:
            _OPTIONS.clear()
        _OPTIONS[key] = made
    return made


_REMEMBERED_LENGTH = 256


def update_call(parsed: Parsed, flavor: Flavor) -> UpdateCall:
    _choose_handler(parsed, flavor, required=False)
    _check_markup(parsed, flavor)
    _sort(parsed, schemas.update_call(flavor))
    parsed.raise_first()
    changes = {k: v for k, v in parsed.values.items() if k in _OPTION_NAMES}
    # A new document replaces the old one, whichever form either had.
    if "url" in changes:
        changes["markup"] = None
    elif "markup" in changes:
        changes["url"] = None
    status = parsed.values.get("status")
    return UpdateCall(status=None if status is None else CallStatus(status), changes=changes)


def _instant(name: str, raw: str) -> tuple[datetime, bool]:
    """A filter value as a UTC instant, and whether it was a bare date."""
    try:
        if len(raw) == 10:
            return datetime.combine(date.fromisoformat(raw), time(), tzinfo=UTC), True
        value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidParameter(
            f"{name} must be a date (YYYY-MM-DD) or an ISO 8601 time: {raw}", code=20001, param=name
        ) from None
    return (value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)), False


def _plus(moment: datetime, delta: timedelta) -> datetime:
    try:
        return moment + delta
    except OverflowError:  # 9999-12-31 and its like: the end of time is late enough
        return datetime.max.replace(tzinfo=UTC)


def _day_bounds(
    values: dict[str, Any], exact: str, before: str, after: str, wire: str
) -> tuple[datetime | None, datetime | None]:
    """Inclusive (after, before) bounds from `StartTime`, `StartTime<` and `StartTime>` (or End...)."""
    low = high = None
    if exact in values:
        # A day filter: twilio-python sends a date as midnight, `2009-07-06T00:00:00Z`.
        moment, _ = _instant(wire, values[exact])
        low = moment.replace(hour=0, minute=0, second=0, microsecond=0)
        high = _plus(low, timedelta(days=1) - timedelta(microseconds=1))
    if before in values:
        moment, is_date = _instant(wire + "<", values[before])
        # "on or before" a date includes the whole day
        high = _plus(moment, timedelta(days=1) - timedelta(microseconds=1)) if is_date else moment
    if after in values:
        low, _ = _instant(wire + ">", values[after])
    return low, high


def call_filter(parsed: Parsed, flavor: Flavor) -> CallFilter:
    parsed.raise_first()
    values = parsed.values
    parent = None
    if "parent_call_sid" in values:
        parent = flavor.parse_call(values["parent_call_sid"])
        if parent is None:
            raise InvalidParameter(
                f"ParentCallSid is not a valid call sid: {values['parent_call_sid']}",
                code=20001,
                param="ParentCallSid",
            )
    start_after, start_before = _day_bounds(
        values, "start_time", "start_time_before", "start_time_after", "StartTime"
    )
    end_after, end_before = _day_bounds(values, "end_time", "end_time_before", "end_time_after", "EndTime")
    return CallFilter(
        to=values.get("to"),
        from_=values.get("from_"),
        parent_call_id=parent,
        status=CallStatus(values["status"]) if "status" in values else None,
        start_after=start_after,
        start_before=start_before,
        end_after=end_after,
        end_before=end_before,
    )
