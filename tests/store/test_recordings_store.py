"""Recording rows on both back-ends: every field kept, scoped to the account, filtered, paged, deleted."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import timedelta

import pytest

from callgate.store.base import Page, Recording, RecordingFilter
from tests.store.test_sql import T0, new_account_id

pytestmark = pytest.mark.anyio


def recording(account_id, n=0, call_id=None, **kw) -> Recording:
    at = T0 + timedelta(hours=n)
    return Recording(
        id=uuid.uuid4(),
        account_id=account_id,
        call_id=call_id or uuid.uuid4(),
        created_at=at,
        updated_at=at,
        source=kw.pop("source", "OutboundAPI"),
        status=kw.pop("status", "in-progress"),
        start_time=at,
        **kw,
    )


async def test_round_trip_keeps_every_field(store):
    account_id = await new_account_id(store)
    rec = recording(
        account_id, channels=2, track="inbound", duration_s=7, path="/var/rec/x.wav", error_code=13227,
        conference_id=uuid.uuid4(), price="-0.0025", price_unit="EUR", api_version="2008-08-01",
        status_callback="https://app.example/rec", status_callback_method="GET",
        status_callback_events=("in-progress", "absent"), trim=True, pause_behavior="skip",
    )  # fmt: skip
    assert await store.insert_recording(rec) == rec
    got = await store.get_recording(account_id, rec.id)
    assert got is not None and got.seq is not None
    assert replace(got, seq=None) == rec


async def test_control_moves_only_a_recording_that_is_going(store):
    account_id = await new_account_id(store)
    going = recording(account_id)
    done = recording(account_id, 1, status="completed", duration_s=3)
    for rec in (going, done):
        await store.insert_recording(rec)
    later = T0 + timedelta(minutes=5)
    paused = await store.control_recording(account_id, going.id, "paused", "skip", later)
    assert paused == replace(going, status="paused", pause_behavior="skip", updated_at=later, seq=paused.seq)
    resumed = await store.control_recording(account_id, going.id, "in-progress", None, later)
    assert resumed is not None and (resumed.status, resumed.pause_behavior) == ("in-progress", "skip")
    assert await store.control_recording(account_id, done.id, "paused", None, later) is None
    another_account = uuid.uuid4()
    assert await store.control_recording(another_account, going.id, "stopped", None, later) is None
    assert (await store.get_recording(account_id, done.id)).status == "completed", "left as it was"
    stopped = await store.control_recording(account_id, going.id, "stopped", None, later)
    assert stopped is not None and stopped.status == "stopped"
    assert await store.control_recording(account_id, going.id, "in-progress", None, later) is None


async def test_get_and_delete_are_scoped_to_the_account(store):
    account_id, other = await new_account_id(store), await new_account_id(store)
    rec = await store.insert_recording(recording(account_id))
    assert await store.get_recording(other, rec.id) is None
    assert not await store.delete_recording(other, rec.id)
    assert await store.delete_recording(account_id, rec.id)
    assert await store.get_recording(account_id, rec.id) is None
    assert not await store.delete_recording(account_id, rec.id)  # twice: nothing left


async def test_update_writes_the_result_and_misses_a_deleted_row(store):
    account_id = await new_account_id(store)
    rec = await store.insert_recording(recording(account_id))
    done = replace(
        rec, status="completed", duration_s=12, updated_at=T0 + timedelta(seconds=12), path="/a.wav"
    )
    assert await store.update_recording(done) == done
    got = await store.get_recording(account_id, rec.id)
    assert got is not None and (got.status, got.duration_s, got.path) == ("completed", 12, "/a.wav")
    assert got.updated_at == T0 + timedelta(seconds=12) and got.created_at == rec.created_at
    await store.delete_recording(account_id, rec.id)
    assert await store.update_recording(replace(done, status="failed")) is None
    # another account cannot overwrite it either
    mine = await store.insert_recording(recording(account_id))
    assert await store.update_recording(replace(mine, account_id=uuid.uuid4(), status="failed")) is None


async def test_list_filters_by_call_and_creation_time_newest_first(store):
    account_id = await new_account_id(store)
    call = uuid.uuid4()
    recs = [
        await store.insert_recording(recording(account_id, n, call_id=call if n % 2 else None))
        for n in range(5)
    ]
    await store.insert_recording(recording(await new_account_id(store), 0, call_id=call))  # another account's

    def ids(rows):
        return [r.id for r in rows]

    everything = await store.list_recordings(account_id, None, RecordingFilter(), Page(50))
    assert ids(everything) == [r.id for r in reversed(recs)]
    of_call = await store.list_recordings(account_id, call, RecordingFilter(), Page(50))
    assert ids(of_call) == [recs[3].id, recs[1].id]
    window = RecordingFilter(created_after=T0 + timedelta(hours=1), created_before=T0 + timedelta(hours=3))
    assert ids(await store.list_recordings(account_id, None, window, Page(50))) == [
        recs[3].id, recs[2].id, recs[1].id,
    ]  # fmt: skip
    assert ids(await store.list_recordings(account_id, call, window, Page(50))) == [recs[3].id, recs[1].id]


async def test_list_pages_by_keyset_both_ways(store):
    account_id = await new_account_id(store)
    recs = [await store.insert_recording(recording(account_id, n)) for n in range(5)]
    newest_first = [r.id for r in reversed(recs)]
    first = await store.list_recordings(account_id, None, RecordingFilter(), Page(2))
    assert [r.id for r in first] == newest_first[:2]
    second = await store.list_recordings(account_id, None, RecordingFilter(), Page(2, after=first[-1].id))
    assert [r.id for r in second] == newest_first[2:4]
    back = await store.list_recordings(account_id, None, RecordingFilter(), Page(2, before=second[0].id))
    assert [r.id for r in back] == newest_first[:2]
    by_offset = await store.list_recordings(account_id, None, RecordingFilter(), Page(2, offset=4))
    assert [r.id for r in by_offset] == newest_first[4:]
