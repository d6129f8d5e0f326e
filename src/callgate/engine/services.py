"""The services a request handler may use, wired once by `callgate.app`."""

from __future__ import annotations

from dataclasses import dataclass

from callgate.engine.accounts import AccountDirectory
from callgate.engine.applications import ApplicationService
from callgate.engine.calls import CallService
from callgate.store.base import Store


@dataclass(frozen=True, slots=True)
class Services:
    """The store and the services over it: what a route handler may reach (through app.state)."""

    store: Store
    accounts: AccountDirectory
    calls: CallService
    applications: ApplicationService

    @classmethod
    def over(cls, store: Store) -> Services:
        return cls(
            store=store,
            accounts=AccountDirectory(store),
            calls=CallService(store),
            applications=ApplicationService(store),
        )
