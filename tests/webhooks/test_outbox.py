"""The outbox dispatcher on a real store (SQLite and PostgreSQL) and a real HTTP receiver on loopback.

A receiver that is down (its port refuses connections) and comes back gets every callback: after 25
minutes on a fake clock (the dispatcher's clock is injected; the schedule is followed by jumping to the
next due time), and after a couple of seconds on the real one. A URL naming #rc or #rp gets Twilio's
tries and no more; a restarted dispatcher goes on with the schedule the rows keep.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest

from callgate.engine.clock import utcnow
from callgate.store import SqlStore
from callgate.store.base import Outgoing
from callgate.webhooks.client import WebhookClient
from callgate.webhooks.outbox import Dispatcher
from callgate.webhooks.retry import RetrySchedule
from callgate.webhooks.transport import MockTransport, Request, Response
from tests.conftest import free_port
from tests.engine.webapp import WebApp

pytestmark = pytest.mark.anyio

T0 = datetime(2026, 12, 8, 1, 0, tzinfo=UTC)


@dataclass
class FakeClock:
    now: datetime

    def __call__(self) -> datetime:
        return self.now


async def unsigned(_item: Outgoing) -> Callable[[str, list[tuple[str, str]]], Mapping[str, str]]:
    return lambda _url, _params: {}


class Receiver:
    """A web app that is down (nothing listens on its port) until `up()`."""

    def __init__(self) -> None:
        self.app = WebApp()
        self.is_up = False

    def url(self, path: str) -> str:
        return self.app.url(path)

    def up(self) -> None:
        if not self.is_up:
            self.app.start()
            self.is_up = True

    def received(self, path: str) -> list[tuple[str, str]]:
        return [(h.params["CallSid"], h.params["SequenceNumber"]) for h in self.app.on(path)]

    def stop(self) -> None:
        if self.is_up:
            self.app.stop()


@pytest.fixture
async def clean_store(fresh_db_url: str) -> AsyncIterator[SqlStore]:
    """A store of its own: a dispatcher claims every due row of the database."""
    store = SqlStore(fresh_db_url)
    await store.open()
    yield store
    await store.close()


@pytest.fixture
async def client() -> AsyncIterator[WebhookClient]:
    async with WebhookClient() as webhooks:
        yield webhooks


@pytest.fixture
def receiver() -> Any:
    down = Receiver()
    yield down
    down.stop()


def callbacks(url: str, *, calls: int, each: int, at: datetime = T0) -> list[Outgoing]:
    """`each` status callbacks of each of `calls` calls, due at `at`."""
    account_id = uuid4()
    items: list[Outgoing] = []
    for _ in range(calls):
        call_id = uuid4()
        for n in range(each):
            params = (("CallSid", str(call_id)), ("SequenceNumber", str(n)))
            items.append(Outgoing(id=uuid4(), account_id=account_id, call_id=call_id, kind="status",
                                  dialect="twilio", url=url, method="POST", params=params, created_at=at,
                                  due_at=at))  # fmt: skip
    return items


def sent(items: Sequence[Outgoing]) -> list[tuple[str, str]]:
    return sorted((str(i.call_id), dict(i.params)["SequenceNumber"]) for i in items)


async def rows_of(store: SqlStore, items: Sequence[Outgoing]) -> list[Outgoing]:
    calls = dict.fromkeys(i.call_id for i in items if i.call_id is not None)
    return [row for call_id in calls for row in await store.webhooks_of(call_id)]


async def follow(
    dispatcher: Dispatcher,
    clock: FakeClock,
    items: Sequence[Outgoing],
    until: datetime,
    at_each: Callable[[datetime], None] = lambda _now: None,
) -> list[Outgoing]:
    """Run the outbox on the fake clock: deliver what is due, then jump to the next due time, until
    no callback is pending; the rows as they end."""
    while True:
        at_each(clock.now)
        await dispatcher.pump()
        await dispatcher.drain()
        rows = await rows_of(dispatcher.store, items)  # type: ignore[arg-type]
        pending = [r.due_at for r in rows if r.state == "pending"]
        if not pending:
            return rows
        clock.now = max(clock.now, min(pending))
        assert clock.now <= until, f"still pending at {clock.now - T0}"


async def test_a_receiver_down_for_25_minutes_gets_every_callback_when_it_comes_back(
    clean_store, client, receiver
):
    items = callbacks(receiver.url("/status"), calls=4, each=5)
    await clean_store.add_webhooks(items)
    clock = FakeClock(T0)
    dispatcher = Dispatcher(clean_store, client, unsigned, clock=clock, draw=random.Random(18).random)
    back = T0 + timedelta(minutes=25)

    def come_back(now: datetime) -> None:
        if now >= back:
            receiver.up()

    rows = await follow(dispatcher, clock, items, until=back + timedelta(hours=1), at_each=come_back)
    assert [r.state for r in rows] == ["delivered"] * len(items)
    assert sorted(receiver.received("/status")) == sent(items), "every callback, once"
    assert all(r.first_attempt_at == T0 for r in rows), "the horizon counts from the first delivery"
    assert min(r.attempts for r in rows) > 3, "delivered again and again through the outage"
    assert clock.now - back <= timedelta(minutes=5), "within one capped wait of the receiver's return"


async def test_a_receiver_that_never_comes_back_is_given_up_at_the_horizon(clean_store, client):
    items = callbacks(f"http://127.0.0.1:{free_port()}/status", calls=1, each=2)
    await clean_store.add_webhooks(items)
    clock = FakeClock(T0)
    schedule = RetrySchedule(horizon_s=3600.0)
    dispatcher = Dispatcher(clean_store, client, unsigned, clock=clock, schedule=schedule)
    rows = await follow(dispatcher, clock, items, until=T0 + timedelta(hours=2))
    assert [r.state for r in rows] == ["failed", "failed"]
    assert clock.now == T0 + timedelta(hours=1), "the last delivery was made at the horizon"
    (call_id,) = {i.call_id for i in items}
    log = await clean_store.requests_of(call_id)  # type: ignore[arg-type]
    assert all(r.response["status"] is None for r in log)


@pytest.mark.parametrize(("fragment", "tries"), [("#rc=2", 3), ("#rp=ct", 2), ("#rc=0&rp=all", 1)])
async def test_a_url_naming_rc_or_rp_gets_twilios_tries_and_no_later_delivery(
    clean_store, client, fragment, tries
):
    (item,) = callbacks(f"http://127.0.0.1:{free_port()}/status{fragment}", calls=1, each=1)
    await clean_store.add_webhooks([item])
    clock = FakeClock(T0)
    dispatcher = Dispatcher(clean_store, client, unsigned, clock=clock)
    (row,) = await follow(dispatcher, clock, [item], until=T0)
    assert (row.state, row.attempts) == ("failed", 1)
    assert len(await clean_store.requests_of(item.call_id)) == tries  # type: ignore[arg-type]


async def test_a_url_that_cannot_be_requested_is_given_up_at_once(clean_store, client):
    (item,) = callbacks("ftp://127.0.0.1/status", calls=1, each=1)
    await clean_store.add_webhooks([item])
    clock = FakeClock(T0)
    (row,) = await follow(Dispatcher(clean_store, client, unsigned, clock=clock), clock, [item], until=T0)
    assert (row.state, row.attempts) == ("failed", 1)


async def test_a_restarted_dispatcher_goes_on_with_the_schedule_the_row_keeps(clean_store, client):
    (item,) = callbacks(f"http://127.0.0.1:{free_port()}/status", calls=1, each=1)
    await clean_store.add_webhooks([item])
    schedule = RetrySchedule(waits_s=(60.0,), max_wait_s=600.0, horizon_s=100.0)
    half = lambda: 0.5  # noqa: E731  # each wait exactly 3/4 of its longest
    first = Dispatcher(clean_store, client, unsigned, clock=FakeClock(T0), schedule=schedule, draw=half)
    assert await first.pump() == 1
    await first.drain()
    (row,) = await rows_of(clean_store, [item])
    assert (row.state, row.attempts, row.first_attempt_at) == ("pending", 1, T0)
    assert row.due_at == T0 + timedelta(seconds=45)
    await first.stop()

    # Another process (this one restarted) finds the row as it was left.
    clock = FakeClock(T0 + timedelta(seconds=30))
    second = Dispatcher(clean_store, client, unsigned, clock=clock, schedule=schedule, draw=half)
    assert await second.pump() == 0, "not due before the time the row keeps"
    clock.now = row.due_at
    assert await second.pump() == 1
    await second.drain()
    (row,) = await rows_of(clean_store, [item])
    # The second wait (120 s) would pass the horizon, 100 s after the first delivery: it is cut there.
    assert (row.state, row.attempts, row.first_attempt_at) == ("pending", 2, T0)
    assert row.due_at == T0 + timedelta(seconds=100)
    clock.now = row.due_at
    assert await second.pump() == 1
    await second.drain()
    (row,) = await rows_of(clean_store, [item])
    assert (row.state, row.attempts) == ("failed", 3)


async def test_a_receiver_down_for_a_few_seconds_gets_every_callback_on_the_real_clock(
    clean_store, client, receiver
):
    items = callbacks(receiver.url("/status"), calls=4, each=5, at=utcnow())
    schedule = RetrySchedule(waits_s=(0.2,), max_wait_s=0.5, horizon_s=60.0)
    dispatcher = Dispatcher(clean_store, client, unsigned, clock=utcnow, schedule=schedule, poll_s=0.05)
    failed_deliveries: dict[UUID, int] = {}
    outage_seen = asyncio.Event()
    all_delivered = asyncio.Event()
    delivered: list[Outgoing] = []
    settle = clean_store.settle_webhook

    async def watched_settle(item_id: UUID, **outcome: Any) -> None:
        await settle(item_id, **outcome)
        if outcome["state"] == "pending":
            failed_deliveries[item_id] = outcome["attempts"]
            # Down until each callback has failed more deliveries than the 3 it once had.
            if len(failed_deliveries) == len(items) and min(failed_deliveries.values()) >= 4:
                outage_seen.set()

    def on_settled(item: Outgoing, ok: bool, _at: datetime) -> None:
        assert ok, f"callback {item.id} given up"
        delivered.append(item)
        if len(delivered) == len(items):
            all_delivered.set()

    clean_store.settle_webhook = watched_settle  # type: ignore[method-assign]
    dispatcher.on_settled.append(on_settled)
    await clean_store.add_webhooks(items)
    await dispatcher.start()
    try:
        await asyncio.wait_for(outage_seen.wait(), timeout=30)
        receiver.up()
        await asyncio.wait_for(all_delivered.wait(), timeout=30)
    finally:
        await dispatcher.stop()
    assert sorted(receiver.received("/status")) == sent(items), "every callback, once"
    rows = await rows_of(clean_store, items)
    assert [r.state for r in rows] == ["delivered"] * len(items)
    assert min(r.attempts for r in rows) >= 5


async def test_the_outbox_retries_through_an_injected_transport_with_no_socket(clean_store):
    """A receiver that answers 503 twice, then 200: the dispatcher tries again on its schedule."""
    answers = [503, 503, 200]
    seen: list[tuple[str, bytes]] = []

    def receiver(request: Request) -> Response:
        seen.append((str(request.url), request.body))
        return Response(answers.pop(0), {"content-type": "text/plain"}, b"", False)

    (item,) = callbacks("https://app.example/status", calls=1, each=1)
    await clean_store.add_webhooks([item])
    clock = FakeClock(T0)
    async with WebhookClient(transport=MockTransport(receiver)) as webhooks:
        dispatcher = Dispatcher(clean_store, webhooks, unsigned, clock=clock, draw=random.Random(19).random)
        (row,) = await follow(dispatcher, clock, [item], until=T0 + timedelta(hours=1))
    assert (row.state, row.attempts, row.last_status) == ("delivered", 3, 200)
    assert [url for url, _ in seen] == ["https://app.example/status"] * 3
    assert seen[0][1] == f"CallSid={item.call_id}&SequenceNumber=0".encode()
    log = await clean_store.requests_of(item.call_id)  # type: ignore[arg-type]
    assert [r.response["status"] for r in log] == [503, 503, 200]
