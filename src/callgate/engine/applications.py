"""The application service: CRUD for the voice configurations a call can name by ApplicationSid."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import Any
from uuid import UUID

from callgate.core.call import Application
from callgate.core.ids import uuid7
from callgate.engine.calls import utcnow
from callgate.store.base import Page, Store


class ApplicationService:
    def __init__(self, store: Store, clock: Callable[[], datetime] = utcnow) -> None:
        self._store = store
        self._clock = clock

    async def create(self, account_id: UUID, fields: dict[str, Any]) -> Application:
        now = self._clock().replace(microsecond=0)
        app = Application(id=uuid7(), account_id=account_id, created_at=now, updated_at=now, **fields)
        return await self._store.insert_application(app)

    async def get(self, account_id: UUID, app_id: UUID) -> Application | None:
        return await self._store.get_application(account_id, app_id)

    async def search(self, account_id: UUID, friendly_name: str | None, page: Page) -> list[Application]:
        return await self._store.list_applications(account_id, friendly_name, page)

    async def update(self, account_id: UUID, app_id: UUID, fields: dict[str, Any]) -> Application | None:
        app = await self._store.get_application(account_id, app_id)
        if app is None:
            return None
        if not fields:
            return app
        changed = replace(app, **fields, updated_at=self._clock().replace(microsecond=0))
        return await self._store.update_application(changed)

    async def delete(self, account_id: UUID, app_id: UUID) -> bool:
        return await self._store.delete_application(account_id, app_id)
