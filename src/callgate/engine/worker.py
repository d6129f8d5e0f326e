"""The worker: claims queued calls and runs them; keeps its leases; ends the calls of dead workers.

With SQLite the worker runs inside `callgate serve`; with PostgreSQL several workers (processes or
machines) share one database: a claim is a row in `call_runs` taken under SKIP LOCKED, renewed by a
heartbeat, and a worker that stops renewing has its calls finalised by whichever worker notices, as
Twilio reports a call its platform lost: `completed` if it had been answered, `failed` if not. Each
heartbeat also writes when the worker was last known alive (`alive_at`): a lost call ends then, not
when it is found, so the time the worker was down is neither counted in its duration nor billed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections import deque
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, Protocol

from callgate.core.call import Account, Call
from callgate.core.events import CallEnded, CallEvent, CallFailed, CallUpdated
from callgate.core.status import TERMINAL, CallStatus, InvalidTransition
from callgate.engine.limiter import CpsLimiter
from callgate.engine.runner import CallRunner
from callgate.engine.shared import Engine, RunningCall
from callgate.store.base import Run

log = logging.getLogger("callgate.worker")


class Runnable(RunningCall, Protocol):
    """A claimed call's runner (`runner.CallRunner`)."""

    async def run(self) -> None: ...


#: makes the runner of a claimed call
Spawn = Callable[[Engine, Call, Account], Runnable]


def worker_name() -> str:
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{os.urandom(3).hex()}"


class Worker:
    def __init__(
        self,
        engine: Engine,
        *,
        cps: float = 50.0,
        lease_s: float = 15.0,
        poll_s: float = 0.5,
        watch_s: float = 0.25,
        batch: int = 64,
        owner: str | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        spawn: Spawn = CallRunner,
    ) -> None:
        self.engine = engine
        self._spawn = spawn
        self.owner = owner or worker_name()
        self.limiter = CpsLimiter(cps)
        self.lease_s = lease_s
        self.poll_s = poll_s
        self.watch_s = watch_s
        self.batch = batch
        self._monotonic = monotonic
        self._wake = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._loops: list[asyncio.Task[None]] = []
        self._stopping = False
        #: calls this process just created: started without a query to find them
        self._fresh: deque[Call] = deque(maxlen=10_000)
        self._next_scan = 0.0  # when the store is next looked at for queued calls
        engine.owner, engine.lease_s = self.owner, lease_s
        engine.calls.created.append(self._on_created)
        engine.calls.listeners.append(self._on_changed)

    def _on_created(self, call: Call) -> None:
        self._fresh.append(call)
        # A call of an account at its rate waits for the token the claim loop is already timed for:
        # waking it for each such create would rescan that account's backlog once per request.
        if self.limiter.wait_s(call.account_id, self._monotonic()) == 0.0:
            self._wake.set()

    def _on_changed(self, call: Call, event: CallEvent) -> None:
        runner = self.engine.running.get(call.id)
        if runner is not None:
            runner.changed(call, event)

    def _lease(self) -> datetime:
        return self.engine.clock() + timedelta(seconds=self.lease_s)

    async def start(self) -> None:
        self._loops = [
            asyncio.create_task(self._claim_loop(), name="callgate-claim"),
            asyncio.create_task(self._heartbeat_loop(), name="callgate-heartbeat"),
            asyncio.create_task(self._watch_loop(), name="callgate-watch"),
        ]

    async def stop(self, grace_s: float = 10.0) -> None:
        """Stop claiming; end the calls still running the normal way (hang up or cancel the dialling,
        write their end, send their callbacks) within `grace_s`. A call that does not end in time keeps
        its lease, so a worker finalises it once the lease runs out."""
        self._stopping = True
        for loop in self._loops:
            if loop.get_name() != "callgate-heartbeat":
                loop.cancel()
        for runner in list(self.engine.running.values()):
            runner.shutdown()
        if self._tasks:
            _, late = await asyncio.wait(set(self._tasks), timeout=grace_s)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
        for loop in self._loops:
            loop.cancel()
        for loop in self._loops:
            with contextlib.suppress(asyncio.CancelledError):
                await loop

    async def _claim_loop(self) -> None:
        next_reap = 0.0
        while True:
            try:
                # Leases last lease_s: looking for expired ones once a second is soon enough, and
                # not once per wake (a wave of creates wakes the loop hundreds of times a second).
                if self._monotonic() >= next_reap:
                    next_reap = self._monotonic() + min(1.0, self.lease_s / 3)
                    await self.reap()
                delay = await self.claim()
            except Exception:
                log.exception("claiming calls failed; retrying")
                delay = self.poll_s
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=delay)

    async def claim(self) -> float:
        """Claim and start the queued calls the rate allows; the seconds until it is worth looking again.

        Accounts at their rate are left out of the query, so one account's backlog never hides the
        calls of the others; an account that runs out of tokens during a pass is left out of the next
        query of the same pass."""
        delay = self.poll_s
        now = self._monotonic()
        # The calls this process created: no query needed to find them. One whose account is at its
        # rate is left to the scan, which looks again when the account has a token.
        while self._fresh and not self._stopping:
            call = self._fresh.popleft()
            if self.limiter.take(call.account_id, now):
                await self._start(call)
            else:
                self._next_scan = min(self._next_scan, now + self.limiter.wait_s(call.account_id, now))
        if now < self._next_scan:
            return max(0.005, min(delay, self._next_scan - now))
        delay = await self._scan()
        self._next_scan = self._monotonic() + delay
        return max(0.005, delay)

    async def _scan(self) -> float:
        """Start the queued calls the store holds (made by other processes, or before a restart), as
        the rate allows; the seconds until it is worth looking again."""
        store = self.engine.store
        delay = self.poll_s
        for _ in range(4):
            now = self._monotonic()
            waiting = self.limiter.waiting(now)  # accounts at their rate, and when each has a token
            queued = await store.queued_calls(self.batch, skip_accounts=list(waiting))
            delay = min([self.poll_s, *waiting.values()])
            blocked = False
            for call in queued:
                if self._stopping:
                    return delay
                if not self.limiter.take(call.account_id, now):
                    blocked = True
                    delay = min(delay, self.limiter.wait_s(call.account_id, now))
                    continue
                await self._start(call)
            if len(queued) < self.batch:
                break
            if not blocked:
                delay = 0.0  # a full batch, all started: more may be waiting behind it
                break
        return delay

    async def _start(self, call: Call) -> None:
        store = self.engine.store
        if not await store.claim_call(call.id, self.owner, self.engine.clock(), self._lease()):
            return
        account = await self.engine.account(call.account_id)
        if account is None:
            await store.end_run(call.id)
            return
        runner = self._spawn(self.engine, call, account)
        self.engine.running[call.id] = runner
        task = asyncio.create_task(self._run(runner), name=f"call-{call.id}")
        self._tasks.add(task)

    async def _run(self, runner: Runnable) -> None:
        try:
            await runner.run()
        finally:
            self.engine.running.pop(runner.call.id, None)
            task = asyncio.current_task()
            if task is not None:
                self._tasks.discard(task)

    async def _heartbeat_loop(self) -> None:
        while True:
            await asyncio.sleep(self.lease_s / 3)
            try:
                now = self.engine.clock()
                until = now + timedelta(seconds=self.lease_s)
                await self.engine.store.renew_runs(self.owner, until, alive_at=now)
            except Exception:
                log.exception("renewing leases failed")

    async def _watch_loop(self) -> None:
        while True:
            await asyncio.sleep(self.watch_s)
            try:
                await self.watch()
            except Exception:
                log.exception("looking for changes to running calls failed")

    async def watch(self) -> int:
        """Pass changes made by other processes (an API node) to the calls running here: one query for
        all their versions, then a read of each call that moved. How many changed."""
        running = dict(self.engine.running)
        versions = await self.engine.store.call_versions(list(running))
        moved = 0
        for call_id, version in versions.items():
            runner = running.get(call_id)
            if runner is None or version <= runner.call.version:
                continue
            call = await self.engine.store.call_by_id(call_id)
            if call is None or call.version <= runner.call.version:
                continue
            moved += 1
            runner.changed(call, _what_changed(runner.call, call))
        return moved

    async def reap(self) -> int:
        """Finalise the calls of workers whose leases ran out. Returns how many were finalised."""
        store = self.engine.store
        done = 0
        for run in await store.expired_runs(self.engine.clock(), 100):
            if run.owner == self.owner and run.call_id in self.engine.running:
                continue
            if not await store.take_over_run(run, self.owner, self._lease()):
                continue
            call = await store.call_by_id(run.call_id)
            if call is not None and call.status not in TERMINAL:
                await self._finalise_lost(call, self._last_alive(run))
            await store.end_run(run.call_id)
            done += 1
        return done

    def _last_alive(self, run: Run) -> datetime:
        """When the worker of an expired run was last known alive: its last heartbeat (a run claimed
        before heartbeats wrote it: a lease's length before the lease ran out)."""
        if run.alive_at is not None:
            return run.alive_at
        return max(run.claimed_at, run.lease_until - timedelta(seconds=self.lease_s))

    async def _finalise_lost(self, call: Call, alive_at: datetime) -> None:
        """End a call whose worker was lost at the last time that worker was known alive."""
        end = alive_at.replace(microsecond=0)
        event: CallEvent
        changes: dict[str, Any] = {}
        if call.status is CallStatus.IN_PROGRESS:
            event = CallEnded({"by": "lost worker"})
            start = call.start_time
            if start is not None:
                end = max(end, start)  # it was alive when it answered, after the last heartbeat
            duration = 0 if start is None else int((end - start).total_seconds())
            changes.update(duration_s=duration, price=self.engine.calls.rates.price(call.to, duration))
        else:
            event = CallFailed({"reason": "lost worker"})
        changes["end_time"] = end
        log.warning("call %s: its worker is gone; finalising it as %s", call.id, event.name)
        with contextlib.suppress(InvalidTransition):
            await self.engine.calls.apply(account_id=call.account_id, call_id=call.id, event=event, **changes)
        # Its recordings were being written by the lost worker: keep what their files hold.
        recordings = self.engine.recordings
        for recording in await recordings.of_call(call.account_id, call.id):
            if recording.status in ("in-progress", "paused", "stopped"):
                await recordings.salvage(recording)


def _what_changed(before: Call, after: Call) -> CallEvent:
    """The event that explains a change seen only in the stored call (made by another process)."""
    if after.status in TERMINAL:
        return CallEnded({"by": "api"})
    changed = sorted(
        name
        for name in ("url", "method", "markup", "status_callback", "time_limit_s")
        if getattr(before.options, name) != getattr(after.options, name)
    )
    # A change that touched none of them was made to the call's recordings (the Recordings API).
    return CallUpdated({"changed": changed or ["recordings"]})
