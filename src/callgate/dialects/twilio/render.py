"""Twilio's JSON shapes: the call, the application, and the list page."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from callgate.core.call import Application, Call
from callgate.dialects.twilio.addresses import formatted

if TYPE_CHECKING:
    from callgate.dialects.twilio.flavor import Flavor

TWILIO_CALL_SUBRESOURCES = (
    ("notifications", "Notifications"),
    ("recordings", "Recordings"),
    ("payments", "Payments"),
    ("events", "Events"),
    ("siprec", "Siprec"),
    ("streams", "Streams"),
    ("transcriptions", "Transcriptions"),
    ("user_defined_message_subscriptions", "UserDefinedMessageSubscriptions"),
    ("user_defined_messages", "UserDefinedMessages"),
)


_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("", "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def rfc2822(value: datetime | None) -> str | None:
    """`Tue, 10 Aug 2010 08:02:17 +0000`: the only date form the vendor SDKs parse (RFC 2822 3.3)."""
    if value is None:
        return None
    v = value.astimezone(UTC)
    return (
        f"{_DAYS[v.weekday()]}, {v.day:02d} {_MONTHS[v.month]} {v.year:04d} "
        f"{v.hour:02d}:{v.minute:02d}:{v.second:02d} +0000"
    )


def account_path(flavor: Flavor, account_id: Any, prefix: str | None = None) -> str:
    base = flavor.uri_prefix if prefix is None else prefix
    return f"{base}/2010-04-01/Accounts/{flavor.render_account(account_id)}"


_SUBRESOURCE_SUFFIXES = tuple((key, f"/{name}.json") for key, name in TWILIO_CALL_SUBRESOURCES)


def twilio_call(call: Call, flavor: Flavor) -> dict[str, Any]:
    sid = flavor.render_call(call.id)
    base = f"{account_path(flavor, call.account_id)}/Calls/{sid}"
    created = rfc2822(call.created_at)
    return {
        "sid": sid,
        "date_created": created,
        "date_updated": created if call.updated_at == call.created_at else rfc2822(call.updated_at),
        "parent_call_sid": None if call.parent_call_id is None else flavor.render_call(call.parent_call_id),
        "account_sid": flavor.render_account(call.account_id),
        "to": call.to,
        "to_formatted": formatted(call.to),
        "from": call.from_,
        "from_formatted": formatted(call.from_),
        "phone_number_sid": None,
        "status": call.status.value,
        "start_time": rfc2822(call.start_time),
        "end_time": rfc2822(call.end_time),
        "duration": None if call.duration_s is None else str(call.duration_s),
        # Twilio shows a charge as a negative amount ("-0.01400").
        "price": None if call.price is None else _charge(call.price),
        "price_unit": call.price_unit,
        "direction": call.direction,
        "answered_by": call.answered_by,
        "api_version": call.api_version,
        "forwarded_from": None,
        "group_sid": None,
        "caller_name": None,
        "queue_time": str(call.queue_time_ms),
        "trunk_sid": None,
        "uri": base + ".json",
        "subresource_uris": {key: base + suffix for key, suffix in _SUBRESOURCE_SUFFIXES},
    }


def twilio_application(app: Application, flavor: Flavor) -> dict[str, Any]:
    sid = flavor.render_application(app.id)
    return {
        "account_sid": flavor.render_account(app.account_id),
        "api_version": app.api_version,
        "date_created": rfc2822(app.created_at),
        "date_updated": rfc2822(app.updated_at),
        "friendly_name": app.friendly_name,
        "message_status_callback": app.message_status_callback,
        "sid": sid,
        "sms_fallback_method": app.sms_fallback_method,
        "sms_fallback_url": app.sms_fallback_url,
        "sms_method": app.sms_method,
        "sms_status_callback": app.sms_status_callback,
        "sms_url": app.sms_url,
        "status_callback": app.status_callback,
        "status_callback_method": app.status_callback_method,
        "uri": f"{account_path(flavor, app.account_id)}/Applications/{sid}.json",
        "voice_caller_id_lookup": app.voice_caller_id_lookup,
        "voice_fallback_method": app.voice_fallback_method,
        "voice_fallback_url": app.voice_fallback_url,
        "voice_method": app.voice_method,
        "voice_url": app.voice_url,
        "public_application_connect_enabled": app.public_application_connect_enabled,
    }


def page_body(
    key: str,
    items: list[dict[str, Any]],
    *,
    path: str,
    filters: list[tuple[str, str]],
    page: int,
    page_size: int,
    token: str | None,
    next_token: str | None,
    previous_token: str | None,
) -> dict[str, Any]:
    """A Twilio list page: the records under `key` beside exactly the eight paging keys.

    `path` is relative to the API root; twilio-python fetches `next_page_uri` verbatim from it.
    """

    def uri(page_number: int, page_token: str | None) -> str:
        query = [*filters, ("PageSize", str(page_size)), ("Page", str(page_number))]
        if page_token is not None:
            query.append(("PageToken", page_token))
        return f"{path}?{urlencode(query)}"

    start = page * page_size
    return {
        key: items,
        "end": start + len(items) - 1 if items else start,
        "first_page_uri": uri(0, None),
        "next_page_uri": uri(page + 1, next_token) if next_token is not None else None,
        "page": page,
        "page_size": page_size,
        "previous_page_uri": uri(page - 1, previous_token) if page > 0 else None,
        "start": start,
        "uri": uri(page, token),
    }


def _charge(price: str) -> str:
    return price if price.startswith("-") or not price.strip("0.") else f"-{price}"
