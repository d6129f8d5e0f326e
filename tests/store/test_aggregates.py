"""The store split per aggregate: each Protocol small and implemented by its own SQL store, which
works alone on either back-end; `Store` is their union, what `SqlStore` implements."""

from __future__ import annotations

import inspect
import uuid
from datetime import timedelta
from typing import Any

import pytest

from callgate.core.events import CallQueued
from callgate.engine.accounts import new_account
from callgate.store.base import (
    AGGREGATES,
    AccountStore,
    CallStore,
    EventStore,
    NotificationRecord,
    OutboxStore,
    Page,
    Recording,
    RecordingFilter,
    RecordingStore,
    Store,
)
from callgate.store.sql import SqlStore
from callgate.store.sql_accounts import SqlAccounts
from callgate.store.sql_calls import SqlCalls
from callgate.store.sql_core import SqlCore
from callgate.store.sql_events import SqlEvents
from callgate.store.sql_outbox import SqlOutbox
from callgate.store.sql_recordings import SqlRecordings
from tests.store.test_sql import T0, make_call

pytestmark = pytest.mark.anyio

IMPLEMENTATIONS: dict[type, type] = {
    AccountStore: SqlAccounts,
    CallStore: SqlCalls,
    EventStore: SqlEvents,
    RecordingStore: SqlRecordings,
    OutboxStore: SqlOutbox,
}


def members(protocol: type) -> set[str]:
    """The methods a Protocol declares itself."""
    return {
        name
        for name, value in vars(protocol).items()
        if inspect.isfunction(value) and not name.startswith("_")
    }


def public_methods(cls: type) -> set[str]:
    return {
        name for name, value in vars(cls).items() if inspect.isfunction(value) and not name.startswith("_")
    }


def test_each_aggregate_has_a_small_protocol_and_store_is_their_union():
    assert set(AGGREGATES) == set(IMPLEMENTATIONS)
    seen: set[str] = set()
    for protocol in AGGREGATES:
        names = members(protocol)
        assert 0 < len(names) <= 14, protocol.__name__
        assert not names & seen, f"{protocol.__name__} repeats {names & seen}"
        seen |= names
    assert members(Store) == {"open", "close"}
    assert all(protocol in Store.__mro__ for protocol in AGGREGATES)


def test_each_sql_store_implements_exactly_its_aggregate():
    for protocol, implementation in IMPLEMENTATIONS.items():
        assert issubclass(implementation, SqlCore)
        assert public_methods(implementation) == members(protocol), implementation.__name__
        for name in members(protocol):  # the same parameters as the Protocol declares
            declared = inspect.signature(getattr(protocol, name))
            assert list(inspect.signature(getattr(implementation, name)).parameters) == list(
                declared.parameters
            )
    assert public_methods(SqlStore) == set()  # nothing of its own: the union of the aggregates
    assert set(SqlStore.__mro__) >= set(IMPLEMENTATIONS.values())


async def opened(cls: type[Any], url: str) -> Any:
    store = cls(url)
    await store.open()
    return store


async def test_an_aggregate_store_works_alone_beside_the_others(db_url):
    accounts_store = await opened(SqlAccounts, db_url)
    calls_store = await opened(SqlCalls, db_url)
    recordings_store = await opened(SqlRecordings, db_url)
    events_store = await opened(SqlEvents, db_url)
    try:
        account = new_account("aggregates")
        await accounts_store.create_account(account)
        call = make_call(account.id)
        await calls_store.insert_call(call, CallQueued(), T0)
        assert (await calls_store.get_call(account.id, call.id)).id == call.id  # type: ignore[union-attr]
        rec = Recording(
            id=uuid.uuid4(), account_id=account.id, call_id=call.id, created_at=T0, updated_at=T0,
            source="OutboundAPI", status="in-progress", start_time=T0,
        )  # fmt: skip
        await recordings_store.insert_recording(rec)
        assert [
            r.id
            for r in await recordings_store.list_recordings(
                account.id, call.id, RecordingFilter(), Page(size=10)
            )
        ] == [rec.id]
        note = NotificationRecord(
            id=uuid.uuid4(), account_id=account.id, call_id=call.id, created_at=T0 + timedelta(seconds=1),
            level="error", code=11200, message="HTTP retrieval failure", request_url="https://app.example/",
            request_method="POST", detail={},
        )  # fmt: skip
        await events_store.add_notification(note)
        found = await events_store.get_notification(account.id, note.id)
        assert found is not None and found.code == 11200
        # what one aggregate wrote, the whole store reads
        whole = await opened(SqlStore, db_url)
        try:
            assert (await whole.get_recording(account.id, rec.id)).call_id == call.id
            assert (await whole.get_account(account.id)).name == "aggregates"
        finally:
            await whole.close()
    finally:
        for store in (accounts_store, calls_store, recordings_store, events_store):
            await store.close()
