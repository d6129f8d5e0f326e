"""Shared fixtures: every database-backed test runs on SQLite and on the local PostgreSQL server.

`live` is a real uvicorn server on loopback, in a thread with its own event loop; vendor SDKs talk
to it over HTTP exactly as they talk to the vendor.
"""

from __future__ import annotations

import asyncio
import os
import socket
import threading
import time
import uuid
from collections.abc import Coroutine, Iterator
from typing import Any, TypeVar

import psycopg
import pytest
import uvicorn
from twilio.rest import Client

from callgate.app import create_app
from callgate.config import Settings, TrunkSettings
from callgate.core.call import Account
from callgate.engine.services import Services
from callgate.http_protocol import JoinedWritesProtocol

T = TypeVar("T")

PG_HOST = os.environ.get("CALLGATE_TEST_PG_HOST", "127.0.0.1")
PG_USER = os.environ.get("CALLGATE_TEST_PG_USER", "postgres")
PG_ADMIN_DSN = f"host={PG_HOST} port=5432 user={PG_USER} dbname=postgres"

os.environ.setdefault("NO_PROXY", "127.0.0.1,localhost")
for _var in ("TWILIO_REGION", "TWILIO_EDGE"):
    os.environ.pop(_var, None)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PostgresDatabase:
    """A throw-away database on the local PostgreSQL server."""

    def __init__(self) -> None:
        self.name = f"callgate_test_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{self.name}"')
        self.url = f"postgresql://{PG_USER}@{PG_HOST}:5432/{self.name}"

    def drop(self) -> None:
        with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


@pytest.fixture(scope="session", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A database URL per back-end, shared by the session (tests isolate themselves by account)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('sqlite')}/callgate.db"
        return
    db = PostgresDatabase()
    try:
        yield db.url
    finally:
        db.drop()


@pytest.fixture
def fresh_db_url(request: pytest.FixtureRequest, db_url: str, tmp_path: Any) -> Iterator[str]:
    """An empty database of the same back-end as `db_url`, for tests that need a clean store."""
    if db_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path}/fresh.db"
        return
    db = PostgresDatabase()
    try:
        yield db.url
    finally:
        db.drop()


#: a BYOC trunk every live server has, for calls that name it with Byoc (nothing listens on its proxy)
BYOC_SID = "BY" + "a" * 32
BYOC_TRUNK = TrunkSettings(name="byoc-test", proxy="sip:127.0.0.1:9", prefixes=["+999"], sid=BYOC_SID)


class LiveServer:
    """Callgate's app under uvicorn on a loopback port, run in a thread with its own loop."""

    def __init__(self, db: str) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.app = create_app(Settings(db=db, http=f"127.0.0.1:{self.port}", trunks=[BYOC_TRUNK]))
        config = uvicorn.Config(
            self.app,
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            lifespan="on",
            http=JoinedWritesProtocol,  # as `callgate serve` serves it
        )
        self.server = uvicorn.Server(config)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._run, name=f"callgate-{self.port}", daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self.server.serve())

    def start(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("Callgate did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)

    @property
    def services(self) -> Services:
        return self.app.state.services  # type: ignore[no-any-return]

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run a coroutine on the server's loop (where its store lives) and return its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=30)


@pytest.fixture(scope="session")
def live(db_url: str) -> Iterator[LiveServer]:
    server = LiveServer(db_url).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def account(live: LiveServer) -> Account:
    """A fresh account per test: lists and counts see only this test's calls."""
    return live.run(live.services.accounts.create(f"test-{uuid.uuid4().hex[:8]}"))


@pytest.fixture
def other_account(live: LiveServer) -> Account:
    return live.run(live.services.accounts.create("other"))


def twilio_client(live: LiveServer, account: Account, token: str | None = None) -> Client:
    from callgate.dialects.twilio.face import TWILIO

    client = Client(TWILIO.render_account(account.id), token if token is not None else account.auth_token)
    client.api.base_url = live.base_url
    return client


@pytest.fixture
def twilio(live: LiveServer, account: Account) -> Client:
    return twilio_client(live, account)


@pytest.fixture
def anyio_backend() -> str:
    """The async tests (the anyio plugin) run on asyncio, as Callgate does."""
    return "asyncio"


@pytest.fixture
async def store(db_url: str) -> Any:
    """An open SQL store on the session's database of each back-end."""
    from callgate.store import SqlStore

    s = SqlStore(db_url)
    await s.open()
    yield s
    await s.close()
