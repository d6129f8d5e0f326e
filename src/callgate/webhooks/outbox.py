"""The outbox dispatcher: delivers the callbacks the store holds, with retries, surviving crashes.

Callbacks are written to the `webhooks` table in the transaction of the event that causes them; the
dispatcher claims the due ones (a lease renewed while the delivery lasts, so dispatchers on several
nodes share the table and a crashed one's claims come back within `lease_s`), sends each through
`WebhookClient` (which applies the URL's connection overrides and retries within one delivery) and marks
it delivered, or keeps it pending with the time of its next delivery (`due_at`, backoff with jitter,
see retry.py) until the schedule's horizon, counted from its first delivery (`first_attempt_at`), has
passed; then it is marked failed. The row keeps both times, so a restarted dispatcher goes on with the
schedule where the last one left it. A URL whose overrides name `#rc` or `#rp` gets the tries they say
and no later delivery, as on Twilio. Every attempt is logged. One call's callbacks go out one at a time,
in the order they were claimed (the order of their events), so an application sees `initiated` before
`ringing`; one delivered again later may arrive after the next ones (SequenceNumber orders them).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from functools import partial
from uuid import UUID, uuid4

from callgate.store.base import NotificationRecord, Outgoing, RequestRecord, Store
from callgate.webhooks.client import (
    Attempt,
    Delivery,
    ErrorCode,
    HeadersHook,
    WebhookClient,
    WebhookRequest,
)
from callgate.webhooks.retry import RetrySchedule

log = logging.getLogger("callgate.webhooks")


class Dispatcher:
    def __init__(
        self,
        store: Store,
        client: WebhookClient,
        sign: Callable[[Outgoing], Awaitable[HeadersHook]],
        *,
        clock: Callable[[], datetime],
        schedule: RetrySchedule | None = None,
        draw: Callable[[], float] = random.random,
        concurrency: int = 64,
        poll_s: float = 0.5,
        lease_s: float = 15.0,
        linger_s: float = 0.002,
    ) -> None:
        self.linger_s = linger_s
        self.store = store
        self.client = client
        self.sign = sign
        self.clock = clock
        self.schedule = schedule if schedule is not None else RetrySchedule()
        self._draw = draw  # the jitter of the backoff: uniform in [0, 1)
        self.poll_s = poll_s
        self.lease_s = lease_s
        self._concurrency = concurrency
        self._slots = asyncio.Semaphore(concurrency)
        self._wake = asyncio.Event()
        self._loop: asyncio.Task[None] | None = None
        self._heartbeat: asyncio.Task[None] | None = None
        self._sending: set[asyncio.Task[None]] = set()
        self._held: set[UUID] = set()  # the callbacks this dispatcher is delivering
        self._last: dict[UUID | None, asyncio.Task[None]] = {}  # per call: its latest delivery
        #: (callback, delivered at) of every callback settled by this dispatcher (benchmarks read it)
        self.on_settled: list[Callable[[Outgoing, bool, datetime], None]] = []

    def wake(self) -> None:
        self._wake.set()

    async def start(self) -> None:
        self._loop = asyncio.create_task(self._run(), name="callgate-outbox")
        self._heartbeat = asyncio.create_task(self._renew(), name="callgate-outbox-heartbeat")

    async def _renew(self) -> None:
        """Keep holding what is being delivered: a crashed dispatcher's claims lapse within a lease."""
        while True:
            await asyncio.sleep(self.lease_s / 3)
            try:
                until = self.clock() + timedelta(seconds=self.lease_s)
                await self.store.renew_webhooks(list(self._held), until)
            except Exception:
                log.exception("renewing the outbox leases failed")

    async def stop(self, drain_s: float = 5.0) -> None:
        """Stop claiming; give the deliveries under way `drain_s` to finish (the rest stay pending)."""
        for task in (self._loop, self._heartbeat):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if self._sending:
            _, pending = await asyncio.wait(self._sending, timeout=drain_s)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        if self._held:
            # What was not delivered is let go at once, not when its lease would have run out: the
            # next dispatcher to look (this process restarted, or another node) takes it.
            with contextlib.suppress(Exception):
                await self.store.renew_webhooks(list(self._held), self.clock() - timedelta(seconds=1))

    async def drain(self) -> None:
        """Wait until every delivery under way (and those queued behind them) has been settled."""
        while self._sending:
            await asyncio.wait(set(self._sending))

    async def _run(self) -> None:
        while True:
            try:
                claimed = await self.pump()
            except Exception:
                log.exception("the outbox could not be read; retrying")
                claimed = 0
            if claimed:
                continue
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.poll_s)
                # The events of a burst (a wave of calls answering) share one claim of the outbox.
                await asyncio.sleep(self.linger_s)

    async def pump(self, limit: int = 100) -> int:
        """Claim the due callbacks and start their deliveries; how many were claimed."""
        while len(self._sending) >= 2 * self._concurrency:  # backpressure: claim no faster than we send
            await asyncio.wait(set(self._sending), return_when=asyncio.FIRST_COMPLETED)
        now = self.clock()
        items = await self.store.claim_webhooks(now, now + timedelta(seconds=self.lease_s), limit)
        self.take(items)
        return len(items)

    def take(self, items: Sequence[Outgoing]) -> None:
        """Deliver callbacks this dispatcher holds: claimed from the outbox, or written by this
        process already held by it (`CallService.outbox`), after their call's earlier ones."""
        for item in items:
            if item.id in self._held:
                continue
            self._held.add(item.id)
            before = self._last.get(item.call_id) if item.call_id is not None else None
            task = asyncio.create_task(self._deliver_after(before, item))
            if item.call_id is not None:
                self._last[item.call_id] = task
                task.add_done_callback(partial(self._forget, item.call_id))
            self._sending.add(task)
            task.add_done_callback(self._sending.discard)

    def _forget(self, call_id: UUID | None, task: asyncio.Task[None]) -> None:
        if self._last.get(call_id) is task:
            del self._last[call_id]

    async def _deliver_after(self, before: asyncio.Task[None] | None, item: Outgoing) -> None:
        if before is not None and not before.done():
            await asyncio.wait({before})
        async with self._slots:
            await self._deliver(item)

    async def _deliver(self, item: Outgoing) -> None:
        try:
            headers_for = await self.sign(item)
            first_at = item.first_attempt_at or self.clock()
            delivery = await self.client.send(
                WebhookRequest(
                    url=item.url, method=item.method, params=list(item.params), headers_for=headers_for
                )
            )
            attempts = item.attempts + 1
            now = self.clock()
            state, due = self._outcome(delivery, attempts, first_at, now)
            await self.store.settle_webhook(
                item.id,
                state=state,
                attempts=attempts,
                due_at=due,
                last_status=delivery.final.status,
                first_attempt_at=first_at,
                log=[request_record(item.account_id, item.call_id, item.kind, a) for a in delivery.attempts],
            )
            if state == "failed" and item.call_id is not None:
                await self._give_up(item, delivery.final)
            if state != "pending":
                for hook in self.on_settled:
                    hook(item, state == "delivered", now)
        except Exception:
            log.exception("callback %s to %s could not be delivered", item.id, item.url)
        finally:
            self._held.discard(item.id)

    def _outcome(
        self, delivery: Delivery, attempts: int, first_at: datetime, now: datetime
    ) -> tuple[str, datetime]:
        """The callback's state after its `attempts`-th delivery, and when it is next due."""
        if delivery.ok:
            return "delivered", now
        if delivery.overrides.tries_given:  # #rc/#rp: the tries of this delivery were all it gets
            return "failed", now
        if delivery.final.error_code == ErrorCode.INVALID_URL:  # no later delivery can mend it
            return "failed", now
        due = self.schedule.next_due(deliveries=attempts, first_at=first_at, now=now, draw=self._draw())
        return ("failed", now) if due is None else ("pending", due)

    async def _give_up(self, item: Outgoing, final: Attempt) -> None:
        """A callback that never got through is a warning in the call's notifications, as Twilio's
        debugger reports a StatusCallback it could not deliver."""
        why = final.error or f"HTTP {final.status}"
        await self.store.add_notification(
            NotificationRecord(
                id=uuid4(),
                account_id=item.account_id,
                call_id=item.call_id,
                created_at=self.clock(),
                level="warning",
                code=final.error_code or 11200,
                message=f"The {item.kind} callback to {item.url} was not delivered ({why})",
                request_url=item.url,
                request_method=item.method,
            )
        )


def request_record(account_id: UUID, call_id: UUID | None, kind: str, attempt: Attempt) -> RequestRecord:
    """One attempt as the request log keeps it (the call's Events resource)."""
    return RequestRecord(
        account_id=account_id,
        call_id=call_id,
        kind=kind,
        at=datetime.fromtimestamp(attempt.started_at, UTC),
        request={
            "url": attempt.url,
            "method": attempt.method,
            "headers": dict(attempt.request_headers),
            "body": attempt.request_body,
        },
        response={
            "status": attempt.status,
            "headers": dict(attempt.response_headers or {}),
            "body": attempt.response_body,
        },
        elapsed_ms=attempt.elapsed_ms,
        error_code=attempt.error_code,
    )
