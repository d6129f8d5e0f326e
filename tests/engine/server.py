"""`callgate serve` as a user runs it: a subprocess on loopback with its own database and sandbox."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from twilio.rest import Client

from tests.conftest import free_port
from tests.engine.webapp import WebApp
from tests.healthz import NotHealthy, wait_healthy

ROOT = Path(__file__).resolve().parents[2]
HOST = "127.0.0.1"


def callgate_bin() -> str:
    return os.environ.get("CALLGATE_BIN") or str(ROOT / ".venv" / "bin" / "callgate")


class Serve:
    def __init__(self, db_url: str, workdir: Path, command: str = "serve", **env: str) -> None:
        self.command = command  # "serve" (API, and calls unless CALLGATE_WORKER=false) or "worker"
        self.db_url = db_url
        self.workdir = workdir
        self.port = free_port()
        self.base_url = f"http://{HOST}:{self.port}"
        self.log_path = workdir / f"callgate-{self.port}.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.env = {**os.environ, "CALLGATE_SANDBOX_SIP": "127.0.0.1:0", "CALLGATE_SIP": "127.0.0.1:0",
                    "NO_PROXY": "127.0.0.1,localhost", **env}  # fmt: skip
        for var in ("CALLGATE_DB", "CALLGATE_HTTP"):
            self.env.pop(var, None)

    def log_tail(self, chars: int = 6000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return "<no log>"

    def create_account(self, name: str = "engine-test") -> dict[str, Any]:
        done = subprocess.run(
            [callgate_bin(), "accounts", "create", "--name", name, "--db", self.db_url, "--json"],
            capture_output=True, text=True, timeout=60, env=self.env, cwd=self.workdir,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr[-3000:]
        info: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
        return info

    def start(self) -> Serve:
        http = ["--http", f"{HOST}:{self.port}"] if self.command == "serve" else []
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [callgate_bin(), self.command, *http, "--db", self.db_url],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=self.env,
                cwd=self.workdir,
            )  # fmt: skip
        if self.command == "worker":  # no HTTP: it says it runs in its log
            self._wait_for_log(" worker ", 60)
            return self
        try:
            wait_healthy(self.proc, self.base_url, 60)
        except NotHealthy as exc:
            self.stop()
            raise RuntimeError(f"callgate serve {exc}:\n{self.log_tail()}") from None
        return self

    def _wait_for_log(self, words: str, timeout: float) -> None:
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        while words not in self.log_tail(20000):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"callgate {self.command} did not start:\n{self.log_tail()}")
            time.sleep(0.05)  # polling the log under a deadline

    def stop(self) -> int | None:
        proc, self.proc = self.proc, None
        if proc is None:
            return None
        if proc.poll() is None:
            proc.terminate()
            try:
                return proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                return proc.wait(timeout=20)
        return proc.returncode

    def kill(self) -> None:
        """kill -9: no shutdown, no flushing."""
        proc, self.proc = self.proc, None
        if proc is not None:
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=20)


@contextmanager
def twilio_user(server: Serve) -> Iterator[tuple[Client, WebApp, dict[str, Any]]]:
    """A user of `server`: an account made on it, the user's web app checking that account's
    signatures, and the twilio SDK pointed at the server, which is started here; all stopped after."""
    account = server.create_account()
    app = WebApp().start()
    app.tokens.add(account["twilio"]["auth_token"])
    try:
        server.start()
        client = Client(account["twilio"]["account_sid"], account["twilio"]["auth_token"])
        client.api.base_url = server.base_url
        yield client, app, account
    finally:
        server.stop()
        app.stop()
