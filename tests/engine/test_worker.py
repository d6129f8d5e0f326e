"""The worker against a fake engine: an in-memory store of calls and runs, runners that only note what
happens to them. No SIP, no sockets, no database (test_engine_edges.py runs it on a real store)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest

from callgate.core.call import Account, Call, CallOptions
from callgate.core.events import CallEnded, CallEvent, CallFailed, CallUpdated
from callgate.core.pricing import RateTable
from callgate.core.status import CallStatus
from callgate.engine.worker import Worker
from callgate.store.base import Recording, Run
from tests.engine.verbs.fake import make_call

pytestmark = pytest.mark.anyio

T0 = datetime(2026, 1, 1, 12, tzinfo=UTC)


@dataclass
class Store:
    calls: dict[UUID, Call] = field(default_factory=dict)
    runs: dict[UUID, Run] = field(default_factory=dict)
    ended: list[UUID] = field(default_factory=list)
    expired: list[Run] = field(default_factory=list)

    async def claim_call(self, call_id: UUID, owner: str, now: datetime, until: datetime) -> bool:
        if call_id in self.runs:
            return False
        self.runs[call_id] = Run(call_id, owner, now, until, alive_at=now)
        return True

    async def queued_calls(self, limit: int, skip_accounts: list[UUID]) -> list[Call]:
        return [c for c in self.calls.values() if c.status is CallStatus.QUEUED and c.id not in self.runs][
            :limit
        ]

    async def end_run(self, call_id: UUID) -> None:
        self.ended.append(call_id)
        self.runs.pop(call_id, None)

    async def call_versions(self, ids: list[UUID]) -> dict[UUID, int]:
        return {i: self.calls[i].version for i in ids if i in self.calls}

    async def call_by_id(self, call_id: UUID) -> Call | None:
        return self.calls.get(call_id)

    async def expired_runs(self, now: datetime, limit: int) -> list[Run]:
        return self.expired

    async def take_over_run(self, run: Run, owner: str, until: datetime) -> bool:
        return True

    async def renew_runs(self, owner: str, until: datetime, *, alive_at: datetime) -> None:
        pass


@dataclass
class Calls:
    rates: RateTable = field(default_factory=RateTable)
    created: list[Any] = field(default_factory=list)
    listeners: list[Any] = field(default_factory=list)
    applied: list[tuple[CallEvent, dict[str, Any]]] = field(default_factory=list)

    async def apply(self, *, account_id: UUID, call_id: UUID, event: CallEvent, **changes: Any) -> Call:
        self.applied.append((event, changes))
        return make_call()


@dataclass
class Recordings:
    rows: list[Recording] = field(default_factory=list)
    salvaged: list[UUID] = field(default_factory=list)

    async def of_call(self, account_id: UUID, call_id: UUID) -> list[Recording]:
        return [r for r in self.rows if r.call_id == call_id]

    async def salvage(self, recording: Recording) -> Recording:
        self.salvaged.append(recording.id)
        return recording


@dataclass
class Engine:
    store: Store = field(default_factory=Store)
    calls: Calls = field(default_factory=Calls)
    recordings: Recordings = field(default_factory=Recordings)
    running: dict[UUID, Any] = field(default_factory=dict)
    owner: str = ""
    lease_s: float = 15.0
    now: datetime = T0

    def clock(self) -> datetime:
        return self.now

    async def account(self, account_id: UUID) -> Account | None:
        return object()  # type: ignore[return-value]


class Runner:
    """Runs until released; notes the changes and the shutdown it is given."""

    def __init__(self, engine: Any, call: Call, account: Account) -> None:
        self.call = call
        self.changes: list[CallEvent] = []
        self.stopped = False
        self.started = asyncio.Event()
        self.release = asyncio.Event()

    def changed(self, call: Call, event: CallEvent) -> None:
        self.call = call
        self.changes.append(event)

    def shutdown(self) -> None:
        self.stopped = True
        self.release.set()

    async def run(self) -> None:
        self.started.set()
        await self.release.wait()


def worker_on(engine: Engine) -> Worker:
    return Worker(engine, owner="w1", spawn=Runner, monotonic=lambda: 0.0)  # type: ignore[arg-type]


async def test_a_call_created_here_is_claimed_and_run_without_a_query():
    engine = Engine()
    worker = worker_on(engine)
    call = make_call(status=CallStatus.QUEUED)
    for hook in engine.calls.created:
        hook(call)
    await worker.claim()
    runner = engine.running[call.id]
    await runner.started.wait()
    assert engine.store.runs[call.id].owner == "w1"
    runner.release.set()
    while call.id in engine.running:
        await asyncio.sleep(0)
    assert engine.store.ended == [], "the lease goes with the runner's final status, not with the worker"


async def test_queued_calls_of_other_processes_are_found_in_the_store():
    engine = Engine()
    worker = worker_on(engine)
    calls = [make_call(status=CallStatus.QUEUED) for _ in range(3)]
    engine.store.calls = {c.id: c for c in calls}
    await worker.claim()
    assert set(engine.running) == {c.id for c in calls}
    runners = list(engine.running.values())
    await asyncio.wait_for(worker.stop(grace_s=5), 10)
    assert all(r.stopped for r in runners), "a stopping worker did not end its calls"
    assert engine.running == {}


async def test_changes_made_elsewhere_reach_the_running_call_as_events():
    engine = Engine()
    worker = worker_on(engine)
    call = make_call(options=CallOptions(url="https://app.test/a"))
    runner = Runner(engine, call, None)  # type: ignore[arg-type]
    engine.running[call.id] = runner
    engine.store.calls[call.id] = replace(call, options=CallOptions(url="https://app.test/b"), version=1)
    assert await worker.watch() == 1
    assert runner.changes == [CallUpdated({"changed": ["url"]})]
    assert await worker.watch() == 0, "a version already seen is not passed on again"
    engine.store.calls[call.id] = replace(runner.call, status=CallStatus.COMPLETED, version=2)
    await worker.watch()
    assert runner.changes[-1] == CallEnded({"by": "api"})
    engine.store.calls[call.id] = replace(runner.call, status=CallStatus.IN_PROGRESS, version=3)
    await worker.watch()
    assert runner.changes[-1] == CallUpdated({"changed": ["recordings"]}), (
        "nothing else changed: its recordings"
    )


async def test_an_api_change_in_this_process_reaches_the_running_call():
    engine = Engine()
    worker_on(engine)
    call = make_call()
    runner = Runner(engine, call, None)  # type: ignore[arg-type]
    engine.running[call.id] = runner
    (listener,) = engine.calls.listeners
    listener(call, CallUpdated({"changed": ["markup"]}))
    assert runner.changes == [CallUpdated({"changed": ["markup"]})]


async def test_a_lost_workers_calls_end_when_it_was_last_alive():
    engine = Engine()
    worker = worker_on(engine)
    alive = T0 - timedelta(minutes=5)
    answered = make_call(start_time=alive - timedelta(seconds=90))
    ringing = make_call(status=CallStatus.RINGING)
    engine.store.calls = {answered.id: answered, ringing.id: ringing}
    engine.store.expired = [Run(c.id, "dead", alive - timedelta(minutes=1), alive, alive_at=alive)
                            for c in (answered, ringing)]  # fmt: skip
    row = Recording(id=answered.id, account_id=answered.account_id, call_id=answered.id, created_at=T0,
                    updated_at=T0, source="OutboundAPI", status="in-progress")  # fmt: skip
    engine.recordings.rows = [row]
    assert await worker.reap() == 2
    (ended, ended_changes), (failed, failed_changes) = engine.calls.applied
    assert ended == CallEnded({"by": "lost worker"})
    assert ended_changes["end_time"] == alive and ended_changes["duration_s"] == 90
    assert failed == CallFailed({"reason": "lost worker"}) and failed_changes == {"end_time": alive}
    assert engine.recordings.salvaged == [row.id], "what the lost worker recorded was not kept"
    assert engine.store.ended == [answered.id, ringing.id]


async def test_its_own_running_calls_are_not_reaped():
    engine = Engine()
    worker = worker_on(engine)
    call = make_call()
    engine.store.calls[call.id] = call
    engine.running[call.id] = Runner(engine, call, None)  # type: ignore[arg-type]
    engine.store.expired = [Run(call.id, "w1", T0, T0)]
    assert await worker.reap() == 0
    assert engine.calls.applied == []
