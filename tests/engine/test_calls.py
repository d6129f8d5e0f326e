"""The call service on a real store: concurrent API updates both land; the clock and ids are injected."""

from __future__ import annotations

import asyncio
import os
from datetime import UTC, datetime, timedelta

import pytest

from callgate.app import faces_for
from callgate.config import Settings
from callgate.core.call import CallOptions, CreateCall, UpdateCall
from callgate.core.errors import CallNotEnded, InvalidCallState, UnknownApplication
from callgate.core.events import CallAnswered, CallInitiated
from callgate.core.ids import uuid7
from callgate.core.status import CallStatus, InvalidTransition
from callgate.engine.accounts import create_account
from callgate.engine.callbacks import StatusCallbacks
from callgate.engine.calls import CallService
from callgate.store.base import Outgoing

pytestmark = pytest.mark.anyio

NOW = datetime(2026, 11, 22, 12, 0, 0, tzinfo=UTC)


@pytest.fixture
async def service(store):
    return CallService(store, clock=lambda: NOW, ids=lambda: uuid7(1_700_000_000_000, os.urandom(10)))


async def _call(store, service):
    account = await create_account(store, "engine")
    call = await service.create(
        account.id, CreateCall("+14155550100", "+14155550199", CallOptions(url="https://e.com"))
    )
    return account, call


async def test_create_uses_the_injected_clock_and_ids(store, service):
    account, call = await _call(store, service)
    assert call.created_at == NOW and call.status is CallStatus.QUEUED
    assert call.id.version == 7 and call.id.int >> 80 == 1_700_000_000_000
    assert [e.name for e in await service.timeline(account.id, call.id)] == ["CallQueued"]


async def test_concurrent_updates_both_land(store, service):
    account, call = await _call(store, service)
    await asyncio.gather(
        service.update(account.id, call.id, UpdateCall(changes={"status_callback": "https://e.com/sc"})),
        service.update(account.id, call.id, UpdateCall(changes={"fallback_url": "https://e.com/fb"})),
        service.update(account.id, call.id, UpdateCall(changes={"time_limit_s": 60})),
    )
    options = (await service.get(account.id, call.id)).options
    assert (options.status_callback, options.fallback_url, options.time_limit_s) == (
        "https://e.com/sc",
        "https://e.com/fb",
        60,
    )
    names = [e.name for e in await service.timeline(account.id, call.id)]
    assert names == ["CallQueued", "CallUpdated", "CallUpdated", "CallUpdated"]


async def test_a_hang_up_racing_a_redirect_ends_the_call(store, service):
    account, call = await _call(store, service)
    await service.apply(account_id=account.id, call_id=call.id, event=CallInitiated(), start_time=NOW)
    await service.apply(account_id=account.id, call_id=call.id, event=CallAnswered())
    await asyncio.gather(
        service.update(
            account.id, call.id, UpdateCall(changes={"url": "https://e.com/next", "markup": None})
        ),
        service.update(account.id, call.id, UpdateCall(status=CallStatus.COMPLETED)),
        return_exceptions=True,  # the redirect may arrive after the hang-up: then it is refused (21220)
    )
    final = await service.get(account.id, call.id)
    assert final.status is CallStatus.COMPLETED and final.duration_s == 0


async def test_state_rules(store, service):
    account, call = await _call(store, service)
    with pytest.raises(CallNotEnded):
        await service.delete(account.id, call.id)
    with pytest.raises(InvalidTransition):
        from callgate.core.events import CallEnded

        await service.apply(account_id=account.id, call_id=call.id, event=CallEnded())
    await service.update(account.id, call.id, UpdateCall(status=CallStatus.CANCELED))
    with pytest.raises(InvalidCallState, match="Cannot update"):
        await service.update(account.id, call.id, UpdateCall(status=CallStatus.COMPLETED))
    assert await service.delete(account.id, call.id) is True


async def test_unknown_application_is_refused(store, service):
    account = await create_account(store, "engine")
    options = CallOptions(application_id=uuid7(1, bytes(10)))
    with pytest.raises(UnknownApplication):
        await service.create(account.id, CreateCall("+14155550100", "+14155550199", options))


async def test_an_events_callbacks_are_written_held_and_handed_to_the_outbox_once_committed(store):
    """With a dispatcher in the process, the callbacks an event makes are stored held by it (no other
    dispatcher claims them until the lease runs out) and handed to it after the commit."""
    ids = lambda: uuid7(1_700_000_000_000, os.urandom(10))  # noqa: E731
    service = CallService(store, clock=lambda: NOW, ids=ids)
    service.callbacks = StatusCallbacks(faces_for(Settings(db="sqlite://")), clock=lambda: NOW, ids=ids)
    handed: list[Outgoing] = []
    service.outbox = handed.extend
    service.outbox_lease_s = 30
    account = await create_account(store, "outbox")
    options = CallOptions(
        url="https://e.com", status_callback="https://e.com/status", status_callback_events=("initiated",)
    )
    call = await service.create(account.id, CreateCall("+14155550100", "+14155550199", options))
    await service.apply(account_id=account.id, call_id=call.id, event=CallInitiated())

    [item] = handed
    assert (item.call_id, item.kind, item.url) == (call.id, "status", "https://e.com/status")
    assert item.lease_until == NOW + timedelta(seconds=30)
    assert dict(item.params)["CallSid"] == "CA" + call.id.hex
    # Stored held: a claim before the lease ends leaves it alone; one after takes it.
    assert await store.claim_webhooks(NOW, NOW + timedelta(seconds=5), 100) == []
    later = NOW + timedelta(seconds=31)
    assert [i.id for i in await store.claim_webhooks(later, later + timedelta(seconds=5), 100)] == [item.id]
