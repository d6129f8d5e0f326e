"""The call service: the one place that creates call records and moves them through their states.

Routes call it with neutral commands; later the call runner calls `apply` with the events it sees
on the wire. Every move goes through `callgate.core.status.next_status` and is written with a
compare-and-set on the call's version, so concurrent writers retry instead of overwriting each other.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from callgate.core.call import Call, CallFilter, CallOptions, CreateCall, UpdateCall
from callgate.core.errors import (
    CallNotEnded,
    InvalidCallState,
    InvalidParameter,
    NotFound,
    PriceTooHigh,
    ServiceUnavailable,
    UnknownApplication,
    UnknownByocTrunk,
)
from callgate.core.events import CallCanceled, CallEnded, CallEvent, CallQueued, CallUpdated
from callgate.core.pricing import RateTable, exceeds
from callgate.core.status import LIVE, TERMINAL, CallStatus, next_status
from callgate.engine.clock import new_id, utcnow
from callgate.store.base import CallbacksFor, Outgoing, Page, Store, TimelineEntry
from callgate.telephony.routing import Trunk, byoc_trunk

#: what the engine hands the service: the callbacks an event causes (written with the event)
CallbackPolicy = Callable[[CallEvent], CallbacksFor | None]
#: told of every change the service writes (the worker running the call listens)
Listener = Callable[[Call, CallEvent], None]

_MAX_RETRIES = 8


class CallService:
    """Creates, reads, changes and deletes calls for the API, and moves them for the call runner."""

    def __init__(
        self,
        store: Store,
        clock: Callable[[], datetime] = utcnow,
        ids: Callable[[], UUID] = new_id,
        callbacks: CallbackPolicy | None = None,
        rates: RateTable | None = None,
        trunks: Sequence[Trunk] = (),
    ) -> None:
        self._store = store
        #: the configured SIP trunks: a call's Byoc must name one of them
        self.trunks = tuple(trunks)
        self.rates = rates if rates is not None else RateTable()
        self._clock = clock
        self._ids = ids
        self.callbacks = callbacks
        self.listeners: list[Listener] = []
        self.created: list[Callable[[Call], None]] = []
        #: the outbox dispatcher of this process, if it has one: the callbacks an event makes are
        #: written held by it for `outbox_lease_s` and handed to it once committed, so that it
        #: sends them without reading them back (another node's takes them if this one dies)
        self.outbox: Callable[[Sequence[Outgoing]], None] | None = None
        self.outbox_lease_s = 15.0

    def _now(self) -> datetime:
        return self._clock().replace(microsecond=0)

    async def create(self, account_id: UUID, command: CreateCall) -> Call:
        """Store a new outbound call as `queued` with its first timeline event."""
        options = command.options
        if options.application_id is not None:
            app = await self._store.get_application(account_id, options.application_id)
            if app is None:
                raise UnknownApplication(
                    "ApplicationSid is invalid: the application does not exist in this account",
                    param="ApplicationSid",
                )
            if not app.voice_url:
                raise InvalidParameter(
                    "The application has no VoiceUrl: set one before placing calls with it",
                    code=21205,
                    param="ApplicationSid",
                )
            # The seed: the Application's StatusCallback and fallback are used, not the request's
            # (the dialect has dropped those); its VoiceUrl is read when the call is answered.
            options = replace(
                options,
                status_callback=app.status_callback,
                status_callback_method=app.status_callback_method,
                fallback_url=app.voice_fallback_url,
                fallback_method=app.voice_fallback_method,
            )
        if options.byoc is not None and command.to.startswith("+"):
            # The seed: Byoc is only meaningful when To is a phone number, and ignored otherwise.
            if byoc_trunk(self.trunks, options.byoc, str(account_id)) is None:
                raise UnknownByocTrunk(
                    f"Byoc is invalid: {options.byoc} names no BYOC trunk of this account",
                    param="Byoc",
                )
        rate = self.rates.rate_for(command.to)
        if exceeds(rate, options.max_price_per_minute):
            raise PriceTooHigh(
                f"Calls to {command.to} cost {rate} USD per minute, more than MaxPricePerMinute "
                f"({options.max_price_per_minute})",
                param="MaxPricePerMinute",
            )
        # To the microsecond: the worker measures queue_time from it (the API shows whole seconds).
        now = self._clock()
        call = Call(
            id=self._ids(),
            account_id=account_id,
            to=command.to,
            from_=command.from_,
            status=CallStatus.QUEUED,
            created_at=now,
            updated_at=now,
            options=options,
        )
        stored = await self._store.insert_call(call, CallQueued({"to": call.to, "from": call.from_}), now)
        for hook in self.created:
            hook(stored)
        return stored

    async def create_child(self, parent: Call, *, to: str, from_: str, options: CallOptions) -> Call:
        """A call placed by a running call (<Dial>): `outbound-dial`, run by the parent's worker."""
        now = self._now()
        call = Call(
            id=self._ids(),
            account_id=parent.account_id,
            to=to,
            from_=from_,
            status=CallStatus.QUEUED,
            created_at=now,
            updated_at=now,
            options=options,
            direction="outbound-dial",
            parent_call_id=parent.id,
        )
        return await self._store.insert_call(call, CallQueued({"to": to, "from": from_}), now)

    async def get(self, account_id: UUID, call_id: UUID) -> Call | None:
        return await self._store.get_call(account_id, call_id)

    async def search(self, account_id: UUID, flt: CallFilter, page: Page) -> list[Call]:
        return await self._store.list_calls(account_id, flt, page)

    async def timeline(self, account_id: UUID, call_id: UUID) -> list[TimelineEntry] | None:
        if await self._store.get_call(account_id, call_id) is None:
            return None
        return await self._store.timeline(call_id)

    async def update(self, account_id: UUID, call_id: UUID, command: UpdateCall) -> Call | None:
        """End a call or change what it runs. None if there is no such call for this account."""
        for _ in range(_MAX_RETRIES):
            call = await self._store.get_call(account_id, call_id)
            if call is None:
                return None
            event, changes = self._plan_update(call, command)
            if event is None:
                return call
            moved = await self._write(call, event, changes)
            if moved is not None:
                return moved
        raise ServiceUnavailable("The call changed too often to update it; try again")

    async def recordings_changed(self, account_id: UUID, call_id: UUID, verb: str = "record") -> Call | None:
        """Tell whoever runs the call that its recordings changed (the Recordings API): an update that
        changes nothing else. InvalidCallState unless the call is in progress; None if no such call."""
        for _ in range(_MAX_RETRIES):
            call = await self._store.get_call(account_id, call_id)
            if call is None:
                return None
            if call.status is not CallStatus.IN_PROGRESS:
                raise InvalidCallState(f"Call is not in-progress. Cannot {verb}.")
            moved = await self._write(call, CallUpdated({"changed": ["recordings"]}), {})
            if moved is not None:
                return moved
        raise ServiceUnavailable("The call changed too often to update it; try again")

    def _plan_update(self, call: Call, command: UpdateCall) -> tuple[CallEvent | None, dict[str, Any]]:
        if call.status in TERMINAL:
            verb = "redirect" if "url" in command.changes or "markup" in command.changes else "update"
            raise InvalidCallState(f"Call is not in-progress. Cannot {verb}.")
        changes: dict[str, Any] = {}
        if command.changes:
            changes["options"] = call.options.merged(**command.changes)
        updated: CallEvent | None = CallUpdated({"changed": sorted(command.changes)}) if changes else None
        if command.status is None:
            return updated, changes
        now = self._now()
        if call.status is CallStatus.IN_PROGRESS:
            if command.status is CallStatus.CANCELED:
                # Twilio: canceled only affects queued or ringing calls.
                return updated, changes
            duration = _seconds(call.start_time, now)
            changes.update(end_time=now, duration_s=duration, price=self.rates.price(call.to, duration))
            return CallEnded({"by": "api"}), changes
        changes.update(end_time=now)
        return CallCanceled({"by": "api"}), changes

    async def apply(
        self,
        *,
        account_id: UUID,
        call_id: UUID,
        event: CallEvent,
        current: Call | None = None,
        **changes: Any,
    ) -> Call:
        """Move a call by `event` (from the call runner); raises InvalidTransition or NotFound.

        `current` is the call as the caller last saw it: the first try writes against its version
        without reading the call again (the runner holds it); a conflict reads it and retries."""
        call = current if current is not None and current.id == call_id else None
        for _ in range(_MAX_RETRIES):
            if call is None:
                call = await self._store.get_call(account_id, call_id)
                if call is None:
                    raise NotFound(f"no call {call_id}")
            moved = await self._write(call, event, changes)
            if moved is not None:
                return moved
            call = None
        raise ServiceUnavailable("The call changed too often to move it; try again")

    async def _write(self, call: Call, event: CallEvent, changes: dict[str, Any]) -> Call | None:
        status = next_status(call.status, event)
        callbacks = self.callbacks(event) if self.callbacks is not None else None
        made: list[Outgoing] = []
        outbox = self.outbox
        if callbacks is not None and outbox is not None:
            until = self._clock() + timedelta(seconds=self.outbox_lease_s)
            build = callbacks

            def callbacks(moved: Call, sequence: int) -> Sequence[Outgoing]:
                items = [replace(item, lease_until=until) for item in build(moved, sequence)]
                made.extend(items)
                return items

        moved = await self._store.update_call(
            call, {**changes, "status": status}, event, self._now(), callbacks
        )
        if moved is not None:
            if made and outbox is not None:
                outbox(made)
            for listener in self.listeners:
                listener(moved, event)
        return moved

    async def delete(self, account_id: UUID, call_id: UUID) -> bool:
        call = await self._store.get_call(account_id, call_id)
        if call is None:
            return False
        if call.status in LIVE:
            raise CallNotEnded("Cannot delete this resource before it is complete")
        return await self._store.delete_call(account_id, call_id)


def _seconds(start: datetime | None, end: datetime) -> int:
    return 0 if start is None else max(0, int((end - start).total_seconds()))
