"""Helpers of the SignalWire SDK suite: the Callgate process, accounts, raw HTTP, shared values."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from tests.healthz import NotHealthy, wait_healthy

HOST = "127.0.0.1"
ROOT = Path(__file__).resolve().parent.parent
STARTUP_DEADLINE_S = 20.0
STOP_TIMEOUT_S = 10.0
PG = {"host": HOST, "port": "5432", "user": "postgres"}

# The SDKs talk to loopback only: no proxy, no region/edge host rewriting, no space URL from the env.
_SDK_ENV = (
    "TWILIO_REGION",
    "TWILIO_EDGE",
    "SIGNALWIRE_SPACE_URL",
    "SIGNALWIRE_PROJECT_ID",
    "SIGNALWIRE_TOKEN",
)
for _var in _SDK_ENV:
    os.environ.pop(_var, None)
os.environ["NO_PROXY"] = os.environ["no_proxy"] = "127.0.0.1,localhost"


def callgate_bin() -> str:
    path = os.environ.get("CALLGATE_BIN") or str(ROOT / ".venv" / "bin" / "callgate")
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        pytest.exit(f"CALLGATE_BIN does not name an executable callgate: {path}", returncode=3)
    return path


def _server_env() -> dict[str, str]:
    env = dict(os.environ)
    for var in ("CALLGATE_DB", "CALLGATE_HTTP"):
        env.pop(var, None)
    env["CALLGATE_SANDBOX_SIP"] = "127.0.0.1:0"  # each server's sandbox on a port of its own
    # An API-only node: these tests keep calls queued to check the resource itself; the engine's own
    # tests (tests/engine) run calls end to end.
    env["CALLGATE_WORKER"] = "false"
    return env


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


class Server:
    """One `callgate serve` process on a fixed port and database; it can be stopped and started again."""

    def __init__(
        self, backend: str, db_url: str, workdir: Path, tls: tuple[Path, Path] | None = None
    ) -> None:
        self.backend = backend
        self.db_url = db_url
        self.workdir = workdir
        self.port = free_port()
        self.tls = tls  # (certificate, key): serve HTTPS
        self.base_url = f"{'https' if tls else 'http'}://{HOST}:{self.port}"
        self.log_path = workdir / "callgate.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def env(self) -> dict[str, str]:
        """The environment the process runs in (the engine's tests turn its worker on)."""
        return _server_env()

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return "<no log>"

    def start(self) -> None:
        assert self.proc is None, "server already running"
        with open(self.log_path, "ab") as log:
            tls_args = ["--tls-cert", str(self.tls[0]), "--tls-key", str(self.tls[1])] if self.tls else []
            self.proc = subprocess.Popen(
                [callgate_bin(), "serve", "--http", f"{HOST}:{self.port}", "--db", self.db_url, *tls_args],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=self.env(),
                cwd=self.workdir,
            )
        try:
            wait_healthy(
                self.proc, self.base_url, STARTUP_DEADLINE_S, cafile=self.tls[0] if self.tls else None
            )
        except NotHealthy as exc:
            self.stop()
            raise RuntimeError(f"callgate serve ({self.backend}) {exc}:\n{self.log_tail()}") from None

    def stop(self) -> int | None:
        proc, self.proc = self.proc, None
        if proc is None:
            return None
        if proc.poll() is None:
            proc.terminate()
            try:
                return proc.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                return proc.wait(timeout=STOP_TIMEOUT_S)
        return proc.returncode

    def restart(self) -> None:
        self.stop()
        self.start()

    def create_account(self, name: str = "sw-test") -> dict[str, Any]:
        """`callgate accounts create --json` against the server's database."""
        done = subprocess.run(
            [callgate_bin(), "accounts", "create", "--name", name, "--db", self.db_url, "--json"],
            capture_output=True,
            text=True,
            timeout=60,
            env=_server_env(),
            cwd=self.workdir,
        )
        assert done.returncode == 0, f"accounts create failed ({done.returncode}):\n{done.stderr[-3000:]}"
        lines = [line for line in done.stdout.splitlines() if line.strip()]
        info: dict[str, Any] = json.loads(lines[-1])
        return info


def psql(sql: str, database: str = "postgres") -> None:
    if shutil.which("psql") is None:
        raise RuntimeError("psql is missing: the PostgreSQL back-end needs it (or use -m 'not postgres')")
    done = subprocess.run(
        [
            "psql",
            "-h",
            PG["host"],
            "-p",
            PG["port"],
            "-U",
            PG["user"],
            "-d",
            database,
            "-v",
            "ON_ERROR_STOP=1",
            "-X",
            "-q",
            "-c",
            sql,
        ],
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, "PGCONNECT_TIMEOUT": "5"},
    )
    if done.returncode != 0:
        raise RuntimeError(f"psql {sql!r} failed: {done.stderr.strip()}")


class Raw:
    """Plain HTTP against one account's face of the API, for what the SDK cannot send or hides."""

    def __init__(self, base_url: str, prefix: str, user: str, password: str) -> None:
        self.base_url = base_url
        self.prefix = prefix
        self.user = user
        self.session = requests.Session()
        self.session.auth = (user, password)

    @property
    def account_path(self) -> str:
        return f"{self.prefix}/2010-04-01/Accounts/{self.user}"

    def url(self, path: str) -> str:
        return f"{self.base_url}{self.account_path}{path}"

    def post(self, path: str, data: Sequence[tuple[str, str]] | dict[str, str]) -> requests.Response:
        return self.session.post(self.url(path), data=data, timeout=10)

    def get(self, path: str, params: Any = None) -> requests.Response:
        return self.session.get(self.url(path), params=params, timeout=10)

    def delete(self, path: str) -> requests.Response:
        return self.session.delete(self.url(path), timeout=10)


@dataclass
class Account:
    server: Server
    info: dict[str, Any]

    @property
    def project_id(self) -> str:
        return str(self.info["signalwire"]["project_id"])

    @property
    def api_token(self) -> str:
        return str(self.info["signalwire"]["api_token"])

    @property
    def signing_key(self) -> str:
        """The project's Signing Key: what SignalWire signs webhooks with."""
        return str(self.info["signalwire"]["signing_key"])

    @property
    def account_sid(self) -> str:
        return str(self.info["twilio"]["account_sid"])

    @property
    def auth_token(self) -> str:
        return str(self.info["twilio"]["auth_token"])

    def client(self, token: str | None = None) -> Any:
        return sw_client(self.server, self.project_id, self.api_token if token is None else token)

    @property
    def laml(self) -> Raw:
        """The SignalWire face as documented: /api/laml/2010-04-01/Accounts/{project}."""
        return Raw(self.server.base_url, "/api/laml", self.project_id, self.api_token)

    @property
    def twilio(self) -> Raw:
        """The Twilio face of the same account: /2010-04-01/Accounts/AC..."""
        return Raw(self.server.base_url, "", self.account_sid, self.auth_token)


def sw_client(server: Server, project_id: str, token: str) -> Any:
    """The SignalWire SDK, unchanged, pointed at the local server over plain HTTP."""
    from signalwire.rest import Client

    client = Client(project_id, token, signalwire_space_url=f"{HOST}:{server.port}")
    client.api.base_url = server.base_url  # the SDK forces https otherwise
    return client


# Values shared by the tests.
TO = "+14155550100"
FROM = "+14155550199"
VOICE_URL = "https://example.com/voice.xml"
LAML = "<Response><Say>Hello from Callgate</Say></Response>"


def call_params(**overrides: str | None) -> list[tuple[str, str]]:
    """A valid create-call form; an override of None removes the parameter."""
    base: dict[str, str | None] = {"To": TO, "From": FROM, "Url": VOICE_URL}
    base.update(overrides)
    return [(k, v) for k, v in base.items() if v is not None]


def sid_to_twilio(sid: str) -> str:
    return "CA" + uuid.UUID(sid).hex


def twilio_to_sid(twilio_sid: str) -> str:
    assert twilio_sid.startswith("CA") and len(twilio_sid) == 34, twilio_sid
    return str(uuid.UUID(hex=twilio_sid[2:]))
