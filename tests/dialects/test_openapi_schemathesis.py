"""Schemathesis over the served /openapi.json: every operation, every check, against a running Callgate.

The server is Callgate's app under uvicorn on loopback with its own SQLite database and no engine:
calls stay queued, so the webhook URLs schemathesis makes up are never fetched. Each face is one run
(its account id in the path, its own credentials). The runs are bounded (a few examples per
operation) and deterministic (schemathesis's deterministic mode: no seed, no example database), so
CI sees the same requests each time.

Two settings say what an OpenAPI document cannot:
- Create Call and Update Call have rules across parameters and values (exactly one of Url, Twiml and
  ApplicationSid; a To that is a possible number; a From that suits that To; well-formed inline
  markup), so a request valid by the document may be refused there: `positive_data_acceptance` is
  off for those two operations only. Refusing what the document forbids stays checked.
- Each resource is served with and without `.json`; the stateful phase, which follows one resource
  through its operations, walks the `.json` spelling only (it would take the two for two resources).
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from callgate.core.call import Account
from callgate.dialects.twilio.face import TWILIO
from tests.conftest import LiveServer

SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")

# Every check schemathesis has, for every operation but where the docstring says otherwise.
CONFIG = """\
[checks]
enabled = true

# Warnings that would make a passing run say nothing: refused credentials, a filter that selects no
# operation, a pattern schemathesis cannot generate from. Missing test data is expected (the sids in
# the paths are made up).
[warnings]
fail-on = ["missing_auth", "unmatched_filter", "unsupported_regex", "method_not_allowed"]

[parameters]
"path.account" = "{account}"

[[operations]]
include-operation-id-regex = '_(create|update)_call([.]json)?$'
checks.positive_data_acceptance.enabled = false

[[operations]]
include-path-regex = '(?<!\\.json)$'
phases.stateful.enabled = false
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    db = tmp_path_factory.mktemp("schemathesis") / "callgate.db"
    live = LiveServer(f"sqlite:///{db}").start()
    try:
        yield live
    finally:
        live.stop()


@pytest.fixture(scope="module")
def account(server: LiveServer) -> Account:
    return server.run(server.services.accounts.create(f"schemathesis-{uuid.uuid4().hex[:8]}"))


def faces(account: Account) -> dict[str, tuple[str, str, list[str]]]:
    """Per face: the account id of its paths, its credentials, and the paths to test."""
    sid, sw_id = TWILIO.render_account(account.id), str(account.id)
    return {
        "twilio": (sid, f"{sid}:{account.auth_token}", ["--exclude-path-regex", "^/api/laml/"]),
        "signalwire": (sw_id, f"{sw_id}:{account.signalwire_token}", ["--include-path-regex", "^/api/laml/"]),
    }


@pytest.mark.slow
@pytest.mark.parametrize("face", ["twilio", "signalwire"])
def test_schemathesis_finds_no_disagreement(server, account, face, tmp_path):
    path_account, credentials, selection = faces(account)[face]
    config = tmp_path / "schemathesis.toml"
    config.write_text(CONFIG.format(account=path_account))
    argv = [
        str(SCHEMATHESIS), "--config-file", str(config), "--no-color",
        "run", f"{server.base_url}/openapi.json", *selection,
        "--auth", credentials,
        "--max-examples", "10",
        "--generation-deterministic",
        "--suppress-health-check", "all",  # a busy CI machine generates slowly; that is no finding
        "--workers", "1",
        "--request-timeout", "10",
        "--output-sanitize", "false",
    ]  # fmt: skip
    env = {**os.environ, "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost"}
    done = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-20000:] + done.stderr[-3000:]
    assert " passed" in done.stdout and "failed" not in done.stdout.split("SUMMARY")[-1]
