"""Between records and rows: the one place that knows how a Call, an Account or an Application is
laid out in the tables of `callgate.store.tables`."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import orjson
from sqlalchemy import JSON, DateTime, Table
from sqlalchemy.engine import RowMapping

from callgate.core.call import (
    APPLICATION_FIELDS,
    NOT_MEASURED,
    Account,
    Application,
    Call,
    CallOptions,
    CallQuality,
)
from callgate.core.events import CallEvent
from callgate.core.status import CallStatus
from callgate.store.tables import call_events, calls

QUALITY_KEYS = tuple(CallQuality.__dataclass_fields__)
_NOT_MEASURED_JSON = orjson.dumps({k: None for k in QUALITY_KEYS}).decode()

# Call field -> column, for updates.
CALL_COLUMNS = {
    "parent_call_id": "parent_call_id",
    "status": "status",
    "direction": "direction",
    "to": "to_addr",
    "from_": "from_addr",
    "created_at": "created_at",
    "updated_at": "updated_at",
    "start_time": "start_time",
    "end_time": "end_time",
    "duration_s": "duration_s",
    "price": "price",
    "price_unit": "price_unit",
    "answered_by": "answered_by",
    "api_version": "api_version",
    "queue_time_ms": "queue_time_ms",
    "sip_call_id": "sip_call_id",
    "sip_result_code": "sip_result_code",
    "quality": "quality",
    "options": "options",
}


def naive(dt: datetime | None) -> datetime | None:
    """UTC without tzinfo: how the tables keep times."""
    if dt is None:
        return None
    if dt.tzinfo is not None:
        dt = dt.astimezone(UTC).replace(tzinfo=None)
    return dt


def aware(dt: datetime | None) -> datetime | None:
    return None if dt is None else dt.replace(tzinfo=UTC)


def sqlite_time(dt: datetime | None) -> str | None:
    """SQLAlchemy's SQLite DATETIME text form, `2026-11-22 16:00:00.000000`."""
    value = naive(dt)
    return None if value is None else value.isoformat(sep=" ", timespec="microseconds")


def json_text(value: Any) -> str:
    return orjson.dumps(value).decode()


def options_json(options: CallOptions) -> str:
    """`options.to_json()` as JSON text. orjson writes the frozen dataclass itself (UUIDs as text,
    tuples as lists, its fields in order), the very text of `to_json()`'s dict without building it
    (less work on every create). The text of an instance seen lately is reused (the create path
    hands the same instance for the same options)."""
    hit = _OPTIONS_JSON.get(id(options))
    if hit is not None and hit[0] is options:
        return hit[1]
    text = orjson.dumps(options).decode()
    if len(text) <= 4096:  # a long one (an inline document) is not kept
        if len(_OPTIONS_JSON) >= 1024:
            _OPTIONS_JSON.clear()
        _OPTIONS_JSON[id(options)] = (options, text)  # the instance is kept: its id cannot be reused
    return text


_OPTIONS_JSON: dict[int, tuple[CallOptions, str]] = {}


def _uuid(value: str | None) -> UUID | None:
    return None if value is None else UUID(value)


def call_from_row(row: RowMapping) -> Call:
    quality = row["quality"] or {}
    return Call(
        id=UUID(row["id"]),
        account_id=UUID(row["account_id"]),
        parent_call_id=_uuid(row["parent_call_id"]),
        status=CallStatus(row["status"]),
        direction=row["direction"],
        to=row["to_addr"],
        from_=row["from_addr"],
        created_at=aware(row["created_at"]),  # type: ignore[arg-type]
        updated_at=aware(row["updated_at"]),  # type: ignore[arg-type]
        start_time=aware(row["start_time"]),
        end_time=aware(row["end_time"]),
        duration_s=row["duration_s"],
        price=row["price"],
        price_unit=row["price_unit"],
        answered_by=row["answered_by"],
        api_version=row["api_version"],
        queue_time_ms=row["queue_time_ms"],
        sip_call_id=row["sip_call_id"],
        sip_result_code=row["sip_result_code"],
        quality=CallQuality(**{k: quality.get(k) for k in QUALITY_KEYS}),
        options=CallOptions.from_json(row["options"]),
        seq=row["seq"],
        version=row["version"],
    )


def call_values(changes: dict[str, Any]) -> dict[str, Any]:
    """Column values for a dict of `Call` field changes (SQLAlchemy binds them)."""
    values: dict[str, Any] = {}
    for name, value in changes.items():
        if isinstance(value, datetime):
            value = naive(value)
        elif isinstance(value, UUID):
            value = str(value)
        elif isinstance(value, CallStatus):
            value = value.value
        elif isinstance(value, CallOptions):
            value = value.to_json()
        elif isinstance(value, CallQuality):
            value = {k: getattr(value, k) for k in QUALITY_KEYS}
        values[CALL_COLUMNS[name]] = value
    return values


def insert_columns(table: Table) -> tuple[str, ...]:
    """Every column but the autoincrementing `seq`, in table order."""
    return tuple(c.name for c in table.columns if c.name != "seq")


CALL_INSERT_COLUMNS = insert_columns(calls)
EVENT_INSERT_COLUMNS = insert_columns(call_events)


def placeholders(paramstyle: str, count: int, start: int = 1) -> list[str]:
    """The driver's positional parameter markers for parameters number `start` to `start + count - 1`."""
    if paramstyle == "qmark":
        return ["?"] * count
    if paramstyle in {"numeric_dollar", "numeric"}:
        prefix = "$" if paramstyle == "numeric_dollar" else ":"
        return [f"{prefix}{i}" for i in range(start, start + count)]
    if paramstyle == "format":
        return ["%s"] * count
    raise ValueError(f"unsupported paramstyle {paramstyle}")  # pragma: no cover - all ours are above


def insert_sql(paramstyle: str, table: Table) -> str:
    """A plain INSERT of every column but `seq`, for executemany with rows from `call_rows`.

    Built from the table's own (constant) column names; every value is a bound parameter.
    """
    columns = insert_columns(table)
    marks = ", ".join(placeholders(paramstyle, len(columns)))
    return f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({marks})"


def update_call_sql(paramstyle: str) -> str:
    """Every column of a call but `id` set from a row of `call_row` (its id moved to the end), where
    the id and the version it was read at (one more parameter) match; returns the row's `seq`.

    A compare-and-set on the version: when it matches, nobody has written the row since it was read,
    so writing every column is the same as writing the changed ones."""
    columns = CALL_INSERT_COLUMNS[1:]
    marks = placeholders(paramstyle, len(columns) + 2)
    sets = ", ".join(f"{column} = {mark}" for column, mark in zip(columns, marks, strict=False))
    return f"UPDATE calls SET {sets} WHERE id = {marks[-2]} AND version = {marks[-1]} RETURNING seq"


def row_writer(table: Table) -> Callable[[dict[str, Any], Callable[[datetime | None], Any]], tuple[Any, ...]]:
    """A function making the positional row of `insert_sql(.., table)` from a dict of column values:
    times through `bind_time`, JSON columns serialised here."""
    kinds = [
        (c.name, 1 if isinstance(c.type, DateTime) else 2 if isinstance(c.type, JSON) else 0)
        for c in table.columns
        if c.name != "seq"
    ]

    def write(values: dict[str, Any], bind_time: Callable[[datetime | None], Any]) -> tuple[Any, ...]:
        return tuple(
            bind_time(values[name]) if kind == 1 else json_text(values[name]) if kind == 2 else values[name]
            for name, kind in kinds
        )

    return write


_CALL_ROW_COLUMNS = (
    "id", "account_id", "parent_call_id", "status", "direction", "to_addr", "from_addr", "created_at",
    "updated_at", "start_time", "end_time", "duration_s", "price", "price_unit", "answered_by", "api_version",
    "queue_time_ms", "sip_call_id", "sip_result_code", "quality", "options", "version",
)  # fmt: skip
_EVENT_ROW_COLUMNS = ("call_id", "at", "name", "status", "data")
# `call_rows` writes tuples in these orders; a column added to the table must be added there too.
assert _CALL_ROW_COLUMNS == CALL_INSERT_COLUMNS, (_CALL_ROW_COLUMNS, CALL_INSERT_COLUMNS)
assert _EVENT_ROW_COLUMNS == EVENT_INSERT_COLUMNS, (_EVENT_ROW_COLUMNS, EVENT_INSERT_COLUMNS)


def call_rows(
    call: Call, event: CallEvent, now: datetime, bind_time: Callable[[datetime | None], Any]
) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
    """The `calls` row and the first `call_events` row of a new call, as positional tuples in the
    column order of `insert_sql` (checked above). Times go through `bind_time` (text for SQLite,
    datetimes for asyncpg); JSON columns are serialised here."""
    created = bind_time(call.created_at)
    call_id = str(call.id)
    event_row = (
        call_id,
        created if now == call.created_at else bind_time(now),
        event.name,
        call.status.value,
        json_text(event.data),
    )
    return call_row(call, bind_time, created), event_row


def call_row(call: Call, bind_time: Callable[[datetime | None], Any], created: Any = None) -> tuple[Any, ...]:
    """The `calls` row of `call` in the column order of `insert_sql` (`created`: its creation time
    already bound, if the caller has it)."""
    if created is None:
        created = bind_time(call.created_at)
    quality = call.quality
    return (
        str(call.id),
        str(call.account_id),
        None if call.parent_call_id is None else str(call.parent_call_id),
        call.status.value,
        call.direction,
        call.to,
        call.from_,
        created,
        created if call.updated_at == call.created_at else bind_time(call.updated_at),
        bind_time(call.start_time),
        bind_time(call.end_time),
        call.duration_s,
        call.price,
        call.price_unit,
        call.answered_by,
        call.api_version,
        call.queue_time_ms,
        call.sip_call_id,
        call.sip_result_code,
        _NOT_MEASURED_JSON
        if quality is NOT_MEASURED
        else json_text({k: getattr(quality, k) for k in QUALITY_KEYS}),
        options_json(call.options),
        call.version,
    )


def account_from_row(row: RowMapping) -> Account:
    return Account(
        id=UUID(row["id"]),
        name=row["name"],
        created_at=aware(row["created_at"]),  # type: ignore[arg-type]
        auth_token=row["auth_token"],
        signalwire_token=row["signalwire_token"],
        signalwire_signing_key=row["signalwire_signing_key"],
        bandwidth_account_id=row["bandwidth_account_id"],
        bandwidth_username=row["bandwidth_username"],
        bandwidth_password=row["bandwidth_password"],
    )


def account_values(account: Account) -> dict[str, Any]:
    return {
        "id": str(account.id),
        "name": account.name,
        "created_at": naive(account.created_at),
        "auth_token": account.auth_token,
        "signalwire_token": account.signalwire_token,
        "signalwire_signing_key": account.signalwire_signing_key,
        "bandwidth_account_id": account.bandwidth_account_id,
        "bandwidth_username": account.bandwidth_username,
        "bandwidth_password": account.bandwidth_password,
    }


def application_from_row(row: RowMapping) -> Application:
    config = row["config"] or {}
    return Application(
        id=UUID(row["id"]),
        account_id=UUID(row["account_id"]),
        created_at=aware(row["created_at"]),  # type: ignore[arg-type]
        updated_at=aware(row["updated_at"]),  # type: ignore[arg-type]
        seq=row["seq"],
        version=row["version"],
        **{k: config[k] for k in APPLICATION_FIELDS if k in config and k != "friendly_name"},
        friendly_name=row["friendly_name"],
    )


def application_config(app: Application) -> dict[str, Any]:
    return {k: getattr(app, k) for k in APPLICATION_FIELDS if k != "friendly_name"}
