"""The application service: CRUD for the voice configurations a call can name by ApplicationSid."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import Any
from uuid import UUID

from callgate.core.call import Application
from callgate.core.errors import ServiceUnavailable
from callgate.engine.clock import new_id, utcnow
from callgate.store.base import Page, Store

_MAX_RETRIES = 8


class ApplicationService:
    """Creates, reads, changes and deletes applications; changes are compare-and-set on the version."""

    def __init__(
        self, store: Store, clock: Callable[[], datetime] = utcnow, ids: Callable[[], UUID] = new_id
    ) -> None:
        self._store = store
        self._clock = clock
        self._ids = ids

    async def create(self, account_id: UUID, fields: dict[str, Any]) -> Application:
        now = self._clock().replace(microsecond=0)
        app = Application(id=self._ids(), account_id=account_id, created_at=now, updated_at=now, **fields)
        return await self._store.insert_application(app)

    async def get(self, account_id: UUID, app_id: UUID) -> Application | None:
        return await self._store.get_application(account_id, app_id)

    async def search(self, account_id: UUID, friendly_name: str | None, page: Page) -> list[Application]:
        return await self._store.list_applications(account_id, friendly_name, page)

    async def update(self, account_id: UUID, app_id: UUID, fields: dict[str, Any]) -> Application | None:
        """Apply `fields`; None if there is no such application for this account."""
        for _ in range(_MAX_RETRIES):
            app = await self._store.get_application(account_id, app_id)
            if app is None or not fields:
                return app
            changed = replace(app, **fields, updated_at=self._clock().replace(microsecond=0))
            written = await self._store.update_application(changed)
            if written is not None:
                return written
        raise ServiceUnavailable("The application changed too often to update it; try again")

    async def delete(self, account_id: UUID, app_id: UUID) -> bool:
        return await self._store.delete_application(account_id, app_id)
