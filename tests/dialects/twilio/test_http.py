"""The request plumbing under a real `callgate serve`: a client that hangs up in the middle of its body."""

from __future__ import annotations

import base64
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.engine.server import HOST, Serve

pytestmark = pytest.mark.slow

LOGGED = "the client disconnected before sending its whole body"


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Serve, dict[str, Any]]]:
    server = Serve(f"sqlite:///{tmp_path}/callgate.db", tmp_path, CALLGATE_WORKER="false")
    account = server.create_account()["twilio"]
    server.start()
    try:
        yield server, account
    finally:
        server.stop()


def post_half_a_body(server: Serve, account: dict[str, Any], path: str) -> None:
    """POST to `path` declaring 100 bytes of body, send 6 of them, and close the connection."""
    credentials = base64.b64encode(f"{account['account_sid']}:{account['auth_token']}".encode()).decode()
    with socket.create_connection((HOST, server.port), timeout=10) as conn:
        conn.sendall(
            f"POST {path} HTTP/1.1\r\nHost: {HOST}\r\nAuthorization: Basic {credentials}\r\n"
            "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\nTo=%2B".encode()
        )


def wait_for_lines(server: Serve, words: str, count: int) -> list[str]:
    """The log's lines holding `words`, once there are `count` of them (at most 20 s)."""
    deadline = time.monotonic() + 20
    while True:
        lines = [line for line in server.log_tail(1 << 20).splitlines() if words in line]
        if len(lines) >= count or time.monotonic() > deadline:
            return lines
        time.sleep(0.05)  # the server writes its log as the disconnect reaches it


def test_a_client_that_disconnects_mid_body_costs_one_log_line_and_nothing_else(served):
    server, account = served
    sid = account["account_sid"]
    calls = f"/2010-04-01/Accounts/{sid}/Calls.json"
    recordings = f"/2010-04-01/Accounts/{sid}/Calls/CA{'0' * 32}/Recordings.json"
    post_half_a_body(server, account, calls)  # the API routes
    post_half_a_body(server, account, recordings)  # the recordings routes
    lines = wait_for_lines(server, f"POST /2010-04-01/Accounts/{sid}/", 2)  # whatever is said of them
    assert [line.split(" ", 2)[2] for line in lines] == [
        f"INFO callgate.dialects.twilio.http: POST {calls}: {LOGGED}",
        f"INFO callgate.dialects.twilio.http: POST {recordings}: {LOGGED}",
    ]
    # The server carries on, and the half-sent Create Call made no call.
    listed = requests.get(f"{server.base_url}{calls}", auth=(sid, account["auth_token"]), timeout=10)
    assert listed.status_code == 200 and listed.json()["calls"] == []
    server.stop()
    log = server.log_tail(1 << 20)
    assert "Traceback" not in log and "ERROR" not in log and " 500" not in log
    assert log.count(LOGGED) == 2
