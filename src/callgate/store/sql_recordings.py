"""Recordings on SQL (`RecordingStore`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import Connection, and_, delete, insert, select, update

from callgate.store import codec
from callgate.store.base import Page, Recording, RecordingFilter
from callgate.store.sql_core import SqlCore, page_order, paged
from callgate.store.tables import recordings


class SqlRecordings(SqlCore):
    """Recording rows: `store.base.RecordingStore` on SQLAlchemy Core."""

    # recordings

    async def insert_recording(self, recording: Recording) -> Recording:
        query = insert(recordings).values(**_recording_values(recording))
        await self._tx(lambda conn: conn.execute(query))
        return recording

    async def update_recording(self, recording: Recording) -> Recording | None:
        """Write every field of `recording` over its row; None if the row is gone."""
        values = _recording_values(recording)
        for key in ("id", "account_id", "created_at"):
            del values[key]
        rec = recordings.c
        where = and_(rec.id == str(recording.id), rec.account_id == str(recording.account_id))
        query = update(recordings).where(where).values(**values)
        if await self._tx(lambda conn: conn.execute(query).rowcount) != 1:
            return None
        return recording

    async def get_recording(self, account_id: UUID, recording_id: UUID) -> Recording | None:
        rec = recordings.c
        query = select(recordings).where(and_(rec.id == str(recording_id), rec.account_id == str(account_id)))
        async with self.engine.connect() as conn:
            row = (await conn.execute(query)).mappings().first()
            return None if row is None else _recording_from_row(row)

    async def list_recordings(
        self, account_id: UUID, call_id: UUID | None, flt: RecordingFilter, page: Page
    ) -> list[Recording]:
        rec = recordings.c
        conditions = [rec.account_id == str(account_id)]
        if call_id is not None:
            conditions.append(rec.call_id == str(call_id))
        if flt.created_after is not None:
            conditions.append(rec.created_at >= codec.naive(flt.created_after))
        if flt.created_before is not None:
            conditions.append(rec.created_at <= codec.naive(flt.created_before))
        query = paged(select(recordings).where(and_(*conditions)), recordings, page)
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).mappings()
            return page_order([_recording_from_row(r) for r in rows], page)

    async def delete_recording(self, account_id: UUID, recording_id: UUID) -> bool:
        rec = recordings.c
        where = and_(rec.id == str(recording_id), rec.account_id == str(account_id))
        query = delete(recordings).where(where)
        return await self._tx(lambda conn: bool(conn.execute(query).rowcount))

    async def control_recording(
        self, account_id: UUID, recording_id: UUID, status: str, pause_behavior: str | None, at: datetime
    ) -> Recording | None:
        rec = recordings.c
        where = and_(
            rec.id == str(recording_id),
            rec.account_id == str(account_id),
            rec.status.in_(("in-progress", "paused")),
        )
        values: dict[str, Any] = {"status": status, "updated_at": codec.naive(at)}
        if pause_behavior is not None:
            values["pause_behavior"] = pause_behavior
        change = update(recordings).where(where).values(**values)
        read = select(recordings).where(rec.id == str(recording_id))

        def control(conn: Connection) -> Recording | None:
            if conn.execute(change).rowcount != 1:
                return None
            row = conn.execute(read).mappings().first()
            return None if row is None else _recording_from_row(row)

        return await self._tx(control)


def _recording_values(recording: Recording) -> dict[str, Any]:
    return {
        "id": str(recording.id),
        "account_id": str(recording.account_id),
        "call_id": None if recording.call_id is None else str(recording.call_id),
        "conference_id": None if recording.conference_id is None else str(recording.conference_id),
        "created_at": codec.naive(recording.created_at),
        "updated_at": codec.naive(recording.updated_at),
        "start_time": codec.naive(recording.start_time),
        "duration_s": recording.duration_s,
        "channels": recording.channels,
        "source": recording.source,
        "track": recording.track,
        "status": recording.status,
        "path": recording.path,
        "error_code": recording.error_code,
        "price": recording.price,
        "price_unit": recording.price_unit,
        "api_version": recording.api_version,
        "status_callback": recording.status_callback,
        "status_callback_method": recording.status_callback_method,
        "status_callback_events": " ".join(recording.status_callback_events),
        "trim": recording.trim,
        "pause_behavior": recording.pause_behavior,
    }


def _recording_from_row(r: Any) -> Recording:
    return Recording(
        id=UUID(r["id"]),
        account_id=UUID(r["account_id"]),
        call_id=UUID(r["call_id"]) if r["call_id"] else None,
        created_at=codec.aware(r["created_at"]),  # type: ignore[arg-type]
        updated_at=codec.aware(r["updated_at"]),  # type: ignore[arg-type]
        source=r["source"],
        status=r["status"],
        channels=r["channels"],
        track=r["track"],
        start_time=codec.aware(r["start_time"]),
        duration_s=r["duration_s"],
        path=r["path"],
        error_code=r["error_code"],
        conference_id=UUID(r["conference_id"]) if r["conference_id"] else None,
        price=r["price"],
        price_unit=r["price_unit"],
        api_version=r["api_version"],
        status_callback=r["status_callback"],
        status_callback_method=r["status_callback_method"],
        status_callback_events=tuple(r["status_callback_events"].split()),
        trim=bool(r["trim"]),
        pause_behavior=r["pause_behavior"],
        seq=r["seq"],
    )


__all__ = ["SqlRecordings"]
