"""The SQL store on both back-ends: persistence, paging, compare-and-set moves, the timeline."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import inspect

from callgate.core.call import Application, Call, CallFilter, CallOptions
from callgate.core.events import CallAnswered, CallEnded, CallQueued, CallRinging, CallUpdated
from callgate.core.status import CallStatus
from callgate.engine.accounts import new_account
from callgate.store import Page, SqlStore
from callgate.store.sql import async_url

pytestmark = pytest.mark.anyio

T0 = datetime(2026, 11, 22, 12, 0, 0, tzinfo=UTC)


def make_call(account_id, n=0, **kw) -> Call:
    return Call(
        id=uuid.uuid4(),
        account_id=account_id,
        to=kw.pop("to", f"+1415555010{n % 10}"),
        from_="+14155550199",
        status=CallStatus.QUEUED,
        created_at=T0 + timedelta(seconds=n),
        updated_at=T0 + timedelta(seconds=n),
        options=CallOptions(url="https://example.com/voice", status_callback_events=("ringing",)),
        **kw,
    )


async def new_account_id(store) -> uuid.UUID:
    account = new_account("store-test")
    await store.create_account(account)
    return account.id


def test_async_url_maps_plain_urls_to_async_drivers():
    assert async_url("sqlite:///./callgate.db") == "sqlite+aiosqlite:///./callgate.db"
    assert async_url("postgresql://u:p@h/db") == "postgresql+asyncpg://u:p@h/db"
    with pytest.raises(ValueError, match="unsupported database URL"):
        async_url("mysql://h/db")


async def test_account_round_trip(store):
    account = new_account("round-trip")
    await store.create_account(account)
    assert await store.get_account(account.id) == account
    assert account in await store.list_accounts()
    assert await store.get_account(uuid.uuid4()) is None


async def test_call_round_trip_keeps_every_field(store):
    account_id = await new_account_id(store)
    call = make_call(account_id, answered_by="human", sip_result_code=200, price="-0.0085")
    assert await store.insert_call(call, CallQueued(), T0) == call
    fetched = await store.get_call(account_id, call.id)
    assert fetched.seq is not None
    assert replace(fetched, seq=None) == call


async def test_get_call_is_scoped_to_the_account(store):
    account_id = await new_account_id(store)
    call = await store.insert_call(make_call(account_id), CallQueued(), T0)
    assert await store.get_call(uuid.uuid4(), call.id) is None


async def test_list_is_newest_first_and_pages_by_keyset(store):
    account_id = await new_account_id(store)
    calls = [await store.insert_call(make_call(account_id, n), CallQueued(), T0) for n in range(5)]
    newest_first = [c.id for c in reversed(calls)]
    first = await store.list_calls(account_id, CallFilter(), Page(2))
    assert [c.id for c in first] == newest_first[:2]
    second = await store.list_calls(account_id, CallFilter(), Page(2, after=first[-1].id))
    assert [c.id for c in second] == newest_first[2:4]
    back = await store.list_calls(account_id, CallFilter(), Page(2, before=second[0].id))
    assert [c.id for c in back] == newest_first[:2]
    by_offset = await store.list_calls(account_id, CallFilter(), Page(2, offset=4))
    assert [c.id for c in by_offset] == newest_first[4:]


async def test_list_filters(store):
    account_id = await new_account_id(store)
    a = await store.insert_call(make_call(account_id, 1, to="+14155550111"), CallQueued(), T0)
    b = await store.insert_call(make_call(account_id, 2, to="+14155550122"), CallQueued(), T0)
    started = T0 + timedelta(hours=1)
    changes = {"start_time": started, "status": CallStatus.RINGING}
    b = await store.update_call(await store.get_call(account_id, b.id), changes, CallRinging(), started)
    assert b is not None and b.status is CallStatus.RINGING
    assert [c.id for c in await store.list_calls(account_id, CallFilter(to="+14155550111"), Page(10))] == [
        a.id
    ]
    ringing = await store.list_calls(account_id, CallFilter(status=CallStatus.RINGING), Page(10))
    assert [c.id for c in ringing] == [b.id]
    window = CallFilter(
        start_after=started - timedelta(minutes=1), start_before=started + timedelta(minutes=1)
    )
    assert [c.id for c in await store.list_calls(account_id, window, Page(10))] == [b.id]
    later = CallFilter(start_after=started + timedelta(seconds=1))
    assert await store.list_calls(account_id, later, Page(10)) == []


async def test_update_is_a_compare_and_set_on_the_version(store):
    account_id = await new_account_id(store)
    await store.insert_call(make_call(account_id), CallQueued(), T0)
    read = (await store.list_calls(account_id, CallFilter(), Page(1)))[0]
    first = replace(read.options, status_callback="https://example.com/a")
    moved = await store.update_call(read, {"options": first}, CallUpdated(), T0)
    assert moved is not None and moved.version == read.version + 1
    # A second writer that read the same version, and keeps the same status, still loses.
    second = replace(read.options, url="https://example.com/b")
    assert await store.update_call(read, {"options": second}, CallUpdated(), T0) is None
    assert (await store.get_call(account_id, read.id)).options.status_callback == "https://example.com/a"
    # Read again, and the change lands on top of the first.
    again = await store.get_call(account_id, read.id)
    latest = await store.update_call(
        again, {"options": replace(again.options, url="https://example.com/b")}, CallUpdated(), T0
    )
    assert (latest.options.status_callback, latest.options.url) == (
        "https://example.com/a",
        "https://example.com/b",
    )


async def test_timeline_records_every_event_in_order(store):
    account_id = await new_account_id(store)
    call = await store.insert_call(make_call(account_id), CallQueued({"to": "x"}), T0)

    async def move(changes, event, at):
        await store.update_call(await store.get_call(account_id, call.id), changes, event, at)

    await move({"status": CallStatus.RINGING}, CallRinging(), T0)
    await move({"status": CallStatus.IN_PROGRESS}, CallAnswered(), T0 + timedelta(seconds=3))
    await move({"status": CallStatus.COMPLETED}, CallEnded({"by": "callee"}), T0)
    timeline = await store.timeline(call.id)
    assert [(e.name, e.status) for e in timeline] == [
        ("CallQueued", CallStatus.QUEUED),
        ("CallRinging", CallStatus.RINGING),
        ("CallAnswered", CallStatus.IN_PROGRESS),
        ("CallEnded", CallStatus.COMPLETED),
    ]
    assert timeline[0].data == {"to": "x"} and timeline[-1].data == {"by": "callee"}
    assert timeline[2].at == T0 + timedelta(seconds=3)


async def test_concurrent_inserts_are_group_committed_and_all_stored(store):
    account_id = await new_account_id(store)
    made = [make_call(account_id, n) for n in range(50)]
    await asyncio.gather(*(store.insert_call(c, CallQueued({"n": n}), T0) for n, c in enumerate(made)))
    listed = await store.list_calls(account_id, CallFilter(), Page(100))
    assert {c.id for c in listed} == {c.id for c in made}
    assert [e.data for e in await store.timeline(made[7].id)] == [{"n": 7}]


async def test_concurrent_inserts_share_a_transaction(store, monkeypatch):
    account_id = await new_account_id(store)
    batches = []
    # SQLite: batches started as they fill (the insert process); PostgreSQL: written one by one
    name = "_start_many" if store._inserts._start_many is not None else "_write_many"
    writer = getattr(store._inserts, name)

    def spy(batch):
        batches.append(len(batch))
        return writer(batch)

    monkeypatch.setattr(store._inserts, name, spy)
    await asyncio.gather(*(store.insert_call(make_call(account_id, n), CallQueued(), T0) for n in range(40)))
    assert sum(batches) == 40
    assert len(batches) < 40 and max(batches) > 1


async def test_in_memory_sqlite_works():
    store = SqlStore("sqlite://")
    await store.open()
    try:
        account_id = await new_account_id(store)
        call = await store.insert_call(make_call(account_id), CallQueued(), T0)
        assert (await store.get_call(account_id, call.id)).to == call.to
    finally:
        await store.close()


async def test_a_failing_row_fails_alone(store):
    account_id = await new_account_id(store)
    good = make_call(account_id, 1)
    await store.insert_call(good, CallQueued(), T0)
    duplicate = replace(make_call(account_id, 2), id=good.id)  # violates the unique id
    fresh = make_call(account_id, 3)
    results = await asyncio.gather(
        store.insert_call(duplicate, CallQueued(), T0),
        store.insert_call(fresh, CallQueued(), T0),
        return_exceptions=True,
    )
    assert isinstance(results[0], Exception) and results[1] == fresh
    assert await store.get_call(account_id, fresh.id) is not None


async def test_delete_removes_the_call_and_its_timeline(store):
    account_id = await new_account_id(store)
    call = await store.insert_call(make_call(account_id), CallQueued(), T0)
    assert await store.delete_call(uuid.uuid4(), call.id) is False
    assert await store.delete_call(account_id, call.id) is True
    assert await store.get_call(account_id, call.id) is None
    assert await store.timeline(call.id) == []


async def test_applications_crud(store):
    account_id = await new_account_id(store)
    app = Application(
        id=uuid.uuid4(),
        account_id=account_id,
        created_at=T0,
        updated_at=T0,
        friendly_name="ivr",
        voice_url="https://example.com/ivr",
        voice_method="GET",
    )
    assert await store.insert_application(app) == app
    stored = await store.get_application(account_id, app.id)
    assert replace(stored, seq=None) == app
    changed = replace(stored, voice_url="https://example.com/ivr2", updated_at=T0 + timedelta(seconds=1))
    assert await store.update_application(changed) == replace(changed, version=1)
    assert (await store.get_application(account_id, app.id)).voice_url == "https://example.com/ivr2"
    # A writer holding the old version loses instead of overwriting.
    assert await store.update_application(replace(stored, friendly_name="stale")) is None
    assert (await store.get_application(account_id, app.id)).friendly_name == "ivr"
    named = await store.list_applications(account_id, "ivr", Page(10))
    assert [a.id for a in named] == [app.id]
    assert await store.list_applications(account_id, "other", Page(10)) == []
    assert await store.delete_application(account_id, app.id) is True
    assert await store.get_application(account_id, app.id) is None


async def test_reopening_keeps_everything_and_migrations_are_idempotent(db_url):
    first = SqlStore(db_url)
    await first.open()
    account_id = await new_account_id(first)
    call = await first.insert_call(make_call(account_id), CallQueued(), T0)
    await first.close()
    second = SqlStore(db_url)
    await second.open()  # runs the migrations again: nothing to do, nothing lost
    try:
        assert replace(await second.get_call(account_id, call.id), seq=None) == call
        async with second.engine.connect() as conn:
            tables = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
        assert {"accounts", "calls", "call_events", "applications", "alembic_version"} <= tables
    finally:
        await second.close()


async def test_sqlite_runs_in_wal_mode(tmp_path):
    store = SqlStore(f"sqlite:///{tmp_path}/wal.db")
    await store.open()
    try:
        async with store.engine.connect() as conn:
            mode = (await conn.exec_driver_sql("PRAGMA journal_mode")).scalar()
        assert mode == "wal"
    finally:
        await store.close()
