"""The engine's tables on both back-ends: claims on calls, leases, the outbox, the request log."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import replace
from datetime import timedelta

import pytest

from callgate.core.call import CallOptions
from callgate.core.events import CallEnded, CallInitiated, CallRinging
from callgate.core.status import CallStatus
from callgate.store.base import NotificationRecord, Outgoing, Page, RequestRecord, Run
from tests.store.test_sql import T0, make_call, new_account_id

pytestmark = pytest.mark.anyio


def outgoing(call, n=0, kind="status") -> Outgoing:
    return Outgoing(
        id=uuid.uuid4(), account_id=call.account_id, call_id=call.id, kind=kind, dialect="twilio",
        url=f"http://127.0.0.1:9/cb{n}", method="POST", params=(("CallSid", str(call.id)), ("N", str(n))),
        created_at=T0, due_at=T0 + timedelta(seconds=n),
    )  # fmt: skip


async def queued(store, n=2):
    account_id = await new_account_id(store)
    with_callback = CallOptions(url="https://example.com/voice", status_callback="http://127.0.0.1:9/status")
    calls = [replace(make_call(account_id, i), options=with_callback) for i in range(n)]
    for call in calls:
        await store.insert_call(call, CallInitiated(), T0)
    return [await store.get_call(account_id, c.id) for c in calls]


async def test_a_call_is_claimed_once_even_by_racing_workers(store):
    (call,) = await queued(store, 1)
    assert call.id in {c.id for c in await store.queued_calls(1000)}
    lease = T0 + timedelta(seconds=15)
    results = await asyncio.gather(*(store.claim_call(call.id, f"w{i}", T0, lease) for i in range(5)))
    assert sorted(results) == [False, False, False, False, True]
    assert call.id not in {c.id for c in await store.queued_calls(1000)}
    await store.end_run(call.id)
    assert call.id in {c.id for c in await store.queued_calls(1000)}


async def test_a_call_that_left_queued_cannot_be_claimed(store):
    (call,) = await queued(store, 1)
    await store.update_call(call, {"status": CallStatus.CANCELED}, CallEnded(), T0)
    assert not await store.claim_call(call.id, "w", T0, T0 + timedelta(seconds=15))


async def test_expired_runs_are_taken_over_once(store):
    (call,) = await queued(store, 1)
    await store.claim_call(call.id, "dead", T0, T0 + timedelta(seconds=1))
    later = T0 + timedelta(seconds=5)
    runs = [r for r in await store.expired_runs(later, 1000) if r.call_id == call.id]
    assert runs == [Run(call.id, "dead", T0, T0 + timedelta(seconds=1), alive_at=T0)]
    lease = later + timedelta(seconds=15)
    assert await store.take_over_run(runs[0], "alive", lease)
    assert not await store.take_over_run(runs[0], "other", lease), "the run moved already"
    await store.renew_runs("alive", lease + timedelta(seconds=30))
    assert call.id not in {r.call_id for r in await store.expired_runs(lease + timedelta(seconds=1), 1000)}


async def test_a_heartbeat_records_when_its_worker_was_last_alive(store):
    (call,) = await queued(store, 1)
    await store.claim_call(call.id, "beating", T0, T0 + timedelta(seconds=15))
    beat = T0 + timedelta(seconds=5, microseconds=250_000)
    await store.renew_runs("beating", beat + timedelta(seconds=15), alive_at=beat)
    await store.renew_runs("beating", beat + timedelta(seconds=20))  # a lease alone keeps the last beat
    (run,) = [r for r in await store.expired_runs(beat + timedelta(seconds=21), 1000) if r.call_id == call.id]
    assert (run.claimed_at, run.alive_at, run.lease_until) == (T0, beat, beat + timedelta(seconds=20))
    await store.end_run(call.id)


async def test_callbacks_are_written_with_the_event_or_not_at_all(store):
    (call,) = await queued(store, 1)
    seen = []

    def callbacks(moved, sequence):
        seen.append((moved.status, sequence))
        return [outgoing(moved, sequence)]

    moved = await store.update_call(call, {"status": CallStatus.RINGING}, CallRinging(), T0, callbacks)
    assert seen == [(CallStatus.RINGING, 0)]
    moved = await store.update_call(moved, {"status": CallStatus.RINGING}, CallRinging(), T0, callbacks)
    assert seen[-1] == (CallStatus.RINGING, 1), "the sequence counts the call's status callbacks"
    # A stale version writes nothing: neither the change nor its callbacks.
    assert await store.update_call(call, {"status": CallStatus.RINGING}, CallRinging(), T0, callbacks) is None
    assert [w.params[1] for w in await store.webhooks_of(call.id)] == [("N", "0"), ("N", "1")]

    def broken(moved, sequence):
        raise RuntimeError("the callback could not be built")

    with pytest.raises(RuntimeError):
        await store.update_call(moved, {"status": CallStatus.IN_PROGRESS}, CallRinging(), T0, broken)
    again = await store.get_call(call.account_id, call.id)
    assert again.status is CallStatus.RINGING and again.version == moved.version, "rolled back"


async def test_the_outbox_hands_each_due_callback_to_one_dispatcher(store):
    (call,) = await queued(store, 1)
    items = [outgoing(call, n) for n in range(3)]
    await store.add_webhooks(items)
    now = T0 + timedelta(seconds=1)  # items 0 and 1 are due
    lease = now + timedelta(seconds=60)
    first, second = await asyncio.gather(
        store.claim_webhooks(now, lease, 100), store.claim_webhooks(now, lease, 100)
    )
    mine = {i.id for i in first + second if i.call_id == call.id}
    assert mine == {items[0].id, items[1].id}
    assert not {i.id for i in first} & {i.id for i in second}
    await store.settle_webhook(items[0].id, state="delivered", attempts=1, due_at=now, last_status=204)
    await store.settle_webhook(items[1].id, state="pending", attempts=1, due_at=now, last_status=500)
    again = [i for i in await store.claim_webhooks(now, lease, 100) if i.call_id == call.id]
    assert [i.id for i in again] == [items[1].id], "a rescheduled callback comes back; a delivered one not"
    assert again[0].attempts == 1 and again[0].last_status == 500
    later = lease + timedelta(seconds=5)
    expired = [i for i in await store.claim_webhooks(later, later + timedelta(seconds=60), 100)
               if i.call_id == call.id]  # fmt: skip
    assert {i.id for i in expired} == {items[1].id, items[2].id}, "a lapsed claim is handed out again"


async def test_a_callbacks_first_delivery_time_is_kept_once_written(store):
    (call,) = await queued(store, 1)
    (item,) = [outgoing(call, 0)]
    await store.add_webhooks([item])
    assert [w.first_attempt_at for w in await store.webhooks_of(call.id)] == [None]
    first = T0 + timedelta(seconds=1)
    await store.settle_webhook(item.id, state="pending", attempts=1, due_at=first + timedelta(seconds=5),
                               last_status=503, first_attempt_at=first)  # fmt: skip
    later = first + timedelta(seconds=5)
    await store.settle_webhook(item.id, state="pending", attempts=2, due_at=later + timedelta(seconds=30),
                               last_status=503, first_attempt_at=later)  # fmt: skip
    (row,) = await store.webhooks_of(call.id)
    assert (row.attempts, row.due_at, row.first_attempt_at) == (2, later + timedelta(seconds=30), first)
    (claimed,) = [i for i in await store.claim_webhooks(row.due_at, row.due_at + timedelta(seconds=9), 100)
                  if i.id == item.id]  # fmt: skip
    assert claimed.first_attempt_at == first, "a claim hands it to the dispatcher: the horizon's origin"


async def test_requests_and_notifications_are_kept_per_call(store):
    (call,) = await queued(store, 1)
    record = RequestRecord(
        call.account_id, call.id, "voice", T0, {"url": "http://x/"}, {"status": 200}, 12, None
    )
    await store.log_request(record)
    (got,) = await store.requests_of(call.id)
    assert (got.kind, got.request, got.response, got.elapsed_ms) == ("voice", {"url": "http://x/"},
                                                                     {"status": 200}, 12)  # fmt: skip
    note = NotificationRecord(uuid.uuid4(), call.account_id, call.id, T0, "error", 11200, "HTTP 500",
                              "http://x/", "POST", {"k": "v"})  # fmt: skip
    await store.add_notification(note)
    (listed,) = await store.search_notifications(call.account_id, call.id, Page(size=10))
    assert (listed.code, listed.message, listed.detail) == (11200, "HTTP 500", {"k": "v"})
    assert await store.search_notifications(call.account_id, uuid.uuid4(), Page(size=10)) == []
