"""The services a request handler may use, wired once by `callgate.app`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from callgate.core.pricing import RateTable
from callgate.engine.accounts import AccountDirectory
from callgate.engine.applications import ApplicationService
from callgate.engine.callbacks import StatusCallbacks
from callgate.engine.calls import CallService
from callgate.engine.clock import new_id, utcnow
from callgate.engine.faces import Face
from callgate.engine.recordings import RecordingService
from callgate.store.base import Store
from callgate.telephony.routing import Trunk


@dataclass(frozen=True, slots=True)
class Services:
    """The store and the services over it: what a route handler may reach (through app.state)."""

    store: Store
    accounts: AccountDirectory
    calls: CallService
    applications: ApplicationService
    recordings: RecordingService

    @classmethod
    def over(
        cls,
        store: Store,
        faces: Mapping[str, Face] | None = None,
        rates: RateTable | None = None,
        trunks: Sequence[Trunk] = (),
    ) -> Services:
        """The services over `store`; with `faces`, every call event queues the status callbacks it
        causes (API-only nodes too, so a call canceled through the API reports it)."""
        callbacks = StatusCallbacks(faces, clock=utcnow, ids=new_id) if faces else None
        return cls(
            store=store,
            accounts=AccountDirectory(store),
            calls=CallService(store, callbacks=callbacks, rates=rates, trunks=trunks),
            applications=ApplicationService(store),
            recordings=RecordingService(store),
        )
