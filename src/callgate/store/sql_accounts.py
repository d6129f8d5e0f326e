"""The accounts and their applications on SQL (`AccountStore`)."""

from __future__ import annotations

from dataclasses import replace
from uuid import UUID

from sqlalchemy import Connection, and_, bindparam, delete, insert, select, update

from callgate.core.call import Account, Application
from callgate.store import codec
from callgate.store.base import Page
from callgate.store.sql_core import SqlCore, page_order, paged
from callgate.store.tables import accounts, applications

_ACCOUNT_BY_ID = select(accounts).where(accounts.c.id == bindparam("account_id"))


class SqlAccounts(SqlCore):
    """Accounts and applications: `store.base.AccountStore` on SQLAlchemy Core."""

    async def create_account(self, account: Account) -> None:
        query = insert(accounts).values(**codec.account_values(account))
        await self._tx(lambda conn: conn.execute(query))

    async def list_accounts(self) -> list[Account]:
        async with self.engine.connect() as conn:
            rows = (await conn.execute(select(accounts).order_by(accounts.c.created_at))).mappings()
            return [codec.account_from_row(r) for r in rows]

    async def get_account(self, account_id: UUID) -> Account | None:
        key = {"account_id": str(account_id)}

        def read(conn: Connection) -> Account | None:
            row = conn.execute(_ACCOUNT_BY_ID, key).mappings().first()
            return None if row is None else codec.account_from_row(row)

        return await self._read(read)

    # applications

    async def insert_application(self, app: Application) -> Application:
        query = insert(applications).values(
            id=str(app.id),
            account_id=str(app.account_id),
            friendly_name=app.friendly_name,
            created_at=codec.naive(app.created_at),
            updated_at=codec.naive(app.updated_at),
            config=codec.application_config(app),
            version=app.version,
        )
        await self._tx(lambda conn: conn.execute(query))
        return app

    async def get_application(self, account_id: UUID, app_id: UUID) -> Application | None:
        query = select(applications).where(
            and_(applications.c.id == str(app_id), applications.c.account_id == str(account_id))
        )
        async with self.engine.connect() as conn:
            row = (await conn.execute(query)).mappings().first()
            return None if row is None else codec.application_from_row(row)

    async def list_applications(
        self, account_id: UUID, friendly_name: str | None, page: Page
    ) -> list[Application]:
        conditions = [applications.c.account_id == str(account_id)]
        if friendly_name is not None:
            conditions.append(applications.c.friendly_name == friendly_name)
        query = paged(select(applications).where(and_(*conditions)), applications, page)
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).mappings()
            return page_order([codec.application_from_row(r) for r in rows], page)

    async def update_application(self, app: Application) -> Application | None:
        """Write `app` if it is still at the version it was read at; None if it changed or went."""
        query = (
            update(applications)
            .where(
                and_(
                    applications.c.id == str(app.id),
                    applications.c.account_id == str(app.account_id),
                    applications.c.version == app.version,
                )
            )
            .values(
                friendly_name=app.friendly_name,
                updated_at=codec.naive(app.updated_at),
                config=codec.application_config(app),
                version=applications.c.version + 1,
            )
        )
        if await self._tx(lambda conn: conn.execute(query).rowcount) != 1:
            return None
        return replace(app, version=app.version + 1)

    async def delete_application(self, account_id: UUID, app_id: UUID) -> bool:
        query = delete(applications).where(
            and_(applications.c.id == str(app_id), applications.c.account_id == str(account_id))
        )
        return await self._tx(lambda conn: bool(conn.execute(query).rowcount))


__all__ = ["SqlAccounts"]
