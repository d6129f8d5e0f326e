"""Fixtures of the SignalWire SDK suite: one real Callgate process per back-end, fresh accounts, clients.

The server runs from its own virtual environment (`$CALLGATE_BIN`, default `.venv/bin/callgate`);
this suite runs in `.venv-signalwire`, where signalwire 2.1.1 (and its pinned twilio 6.54) live.
Each back-end (SQLite in a temporary file, PostgreSQL in a fresh database on 127.0.0.1:5432) gets
one server for the whole session, started before its first test and stopped after its last; accounts
are created with `callgate accounts create --json`, one per module (or per test, for whole-list checks).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import pytest
from support import PG, Account, Server, psql


@pytest.fixture(
    scope="session",
    params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)],
)
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    backend: str = request.param
    workdir = tmp_path_factory.mktemp(f"callgate-{backend}")
    database = None
    if backend == "sqlite":
        db_url = f"sqlite:///{(workdir / 'cg.db').resolve()}"  # four slashes: an absolute path
    else:
        database = f"cg_sw_{secrets.token_hex(6)}"
        psql(f"CREATE DATABASE {database}")
        db_url = f"postgresql://{PG['user']}@{PG['host']}:{PG['port']}/{database}"
    srv = Server(backend, db_url, workdir)
    try:
        srv.start()
        yield srv
    finally:
        srv.stop()
        if database is not None:
            psql(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")


@pytest.fixture(scope="module")
def account(server: Server) -> Account:
    """One account per test module (and back-end)."""
    return Account(server, server.create_account("sw-module"))


@pytest.fixture(scope="module")
def other_account(server: Server) -> Account:
    return Account(server, server.create_account("sw-other"))


@pytest.fixture
def fresh_account(server: Server) -> Account:
    """An account of this test alone, for assertions over whole lists."""
    return Account(server, server.create_account("sw-fresh"))


@pytest.fixture(scope="module")
def client(account: Account) -> Any:
    return account.client()
