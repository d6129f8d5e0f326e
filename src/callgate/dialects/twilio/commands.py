"""From validated request parameters to neutral commands: CreateCall, UpdateCall, CallFilter."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from callgate.core.call import CallFilter, CallOptions, CreateCall, UpdateCall
from callgate.core.errors import InvalidParameter
from callgate.core.status import CallStatus
from callgate.dialects.params import Param, Parsed, param_order
from callgate.dialects.twilio import schemas
from callgate.dialects.twilio.addresses import address_kind, valid_caller
from callgate.dialects.twilio.flavor import Flavor
from callgate.dialects.twilio.markup import check_markup

_OPTION_NAMES = frozenset(CallOptions.__dataclass_fields__)
MACHINE_WORDS_DEFAULT = 6  # SignalWire's MachineWordsThreshold default (the schema's too)


def _markup_names(flavor: Flavor) -> str:
    return ", ".join(flavor.markup_params)


def _one_handler(parsed: Parsed, flavor: Flavor, *, required: bool) -> None:
    """Twilio error 21205: exactly one of Url, the inline document, or ApplicationSid."""
    given = [n for n in ("Url", *flavor.markup_params, "ApplicationSid") if n in parsed.present]
    if not given and required:
        if flavor.name == "twilio":
            message = (
                "Url parameter is required. For more information, see http://www.twilio.com/docs/api/twiml"
            )
        else:
            message = f"Url, {_markup_names(flavor)} or ApplicationSid parameter is required"
        parsed.errors.append(InvalidParameter(message, code=schemas.BAD_URL, param="Url"))
    elif len(given) > 1:
        parsed.errors.append(
            InvalidParameter(
                f"Only one of Url, {_markup_names(flavor)} or ApplicationSid may be given, "
                f"not {' and '.join(given)}",
                code=schemas.BAD_URL,
                param=given[1],
            )
        )


def _check_markup(parsed: Parsed, flavor: Flavor) -> None:
    markup = parsed.values.get("markup")
    if markup is None:
        return
    name = next(n for n in flavor.markup_params if n in parsed.present)
    try:
        check_markup(name, markup, schemas.MARKUP_MAX_CHARS)
    except InvalidParameter as exc:
        parsed.errors.append(exc)


def _sort(parsed: Parsed, params: tuple[Param, ...]) -> None:
    if len(parsed.errors) > 1:
        order = param_order(params)
        parsed.errors.sort(key=lambda e: order.get(e.param or "", len(order)))


def create_call(parsed: Parsed, flavor: Flavor) -> CreateCall:
    """The CreateCall command, or raise the first problem (every problem is in `parsed.errors`)."""
    values = parsed.values
    to = values.get("to")
    callee = address_kind(to) if to else None
    from_ = values.get("from_")
    if from_ is not None and to is not None and not valid_caller(from_, callee):
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
    _one_handler(parsed, flavor, required=True)
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
    _one_handler(parsed, flavor, required=False)
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
