"""The CLI contract: `callgate serve` and `callgate accounts`, run as real processes."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from twilio.rest import Client

from tests.conftest import free_port

pytestmark = pytest.mark.slow

CALLGATE = [sys.executable, "-m", "callgate"]


def run_cli(*args: str, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(
        [*CALLGATE, *args], capture_output=True, text=True, timeout=60, env={**os.environ, **(env or {})}
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


class ServeProcess:
    """`callgate serve` in a child process; its banner is read line by line until the server is ready."""

    def __init__(self, *args: str, env: dict[str, str] | None = None) -> None:
        self.proc = subprocess.Popen(
            [*CALLGATE, "serve", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={"CALLGATE_SANDBOX_SIP": "127.0.0.1:0", **os.environ, **(env or {})},
        )
        self.lines: list[str] = []
        self.ready = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line)
            if "Uvicorn running on" in line:
                self.ready.set()
        self.ready.set()

    def wait_ready(self) -> str:
        assert self.ready.wait(60), "".join(self.lines)
        assert self.proc.poll() is None, "".join(self.lines)
        return "".join(self.lines)

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=30)


def test_accounts_create_and_list_json(fresh_db_url):
    created = json.loads(run_cli("accounts", "create", "--name", "acme", "--db", fresh_db_url, "--json"))
    assert set(created) == {"id", "name", "twilio", "signalwire", "bandwidth"}
    assert created["name"] == "acme"
    assert str(uuid.UUID(created["id"])) == created["id"]
    assert re.fullmatch(r"AC[0-9a-f]{32}", created["twilio"]["account_sid"])
    assert created["twilio"]["account_sid"][2:] == uuid.UUID(created["id"]).hex
    assert len(created["twilio"]["auth_token"]) == 32
    assert created["signalwire"]["project_id"] == created["id"]
    assert created["signalwire"]["api_token"]
    assert created["bandwidth"]["account_id"].isdigit()
    assert set(created["bandwidth"]) == {"account_id", "username", "password"}
    listed = json.loads(run_cli("accounts", "list", "--db", fresh_db_url, "--json"))
    assert listed == [created]


def test_accounts_db_from_environment(tmp_path):
    url = f"sqlite:///{tmp_path}/env.db"
    created = json.loads(run_cli("accounts", "create", "--json", env={"CALLGATE_DB": url}))
    assert json.loads(run_cli("accounts", "list", "--json", env={"CALLGATE_DB": url})) == [created]


def test_serve_creates_an_account_and_keeps_every_call_across_a_restart(fresh_db_url):
    port = free_port()
    first = ServeProcess("--http", f"127.0.0.1:{port}", "--db", fresh_db_url)
    try:
        banner = first.wait_ready()
        sid = re.search(r"AccountSid (AC[0-9a-f]{32})", banner).group(1)
        token = re.search(r"AuthToken ([0-9a-f]{32})", banner).group(1)
        assert f"http://127.0.0.1:{port}/api/laml" in banner and f"http://127.0.0.1:{port}/api/v2" in banner
        client = Client(sid, token)
        client.api.base_url = f"http://127.0.0.1:{port}"
        sids = [
            client.calls.create(to=f"+1415555010{n}", from_="+14155550199", url="https://e.com/v").sid
            for n in range(3)
        ]
        client.calls(sids[0]).update(status="canceled")
    finally:
        assert first.stop() == 0

    second = ServeProcess("--http", f"127.0.0.1:{port}", "--db", fresh_db_url)
    try:
        banner = second.wait_ready()
        assert token not in banner  # credentials are printed once, at creation
        assert "1 account(s)" in banner
        assert [c.sid for c in client.calls.list()] == list(reversed(sids))
        assert client.calls(sids[0]).fetch().status == "canceled"
        assert client.calls(sids[1]).fetch().to == "+14155550101"
    finally:
        assert second.stop() == 0


def test_serve_reads_its_address_and_store_from_the_environment(tmp_path):
    port = free_port()
    db = tmp_path / "from-env.db"
    server = ServeProcess(env={"CALLGATE_HTTP": f"127.0.0.1:{port}", "CALLGATE_DB": f"sqlite:///{db}"})
    try:
        server.wait_ready()
        assert httpx.get(f"http://127.0.0.1:{port}/healthz").json() == {"status": "ok"}
        assert Path(db).exists()
    finally:
        server.stop()


def test_bad_database_url_fails_clearly(tmp_path):
    result = subprocess.run(
        [*CALLGATE, "accounts", "list", "--db", "mysql://nowhere/db"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "unsupported database URL" in result.stderr


def test_tokens_never_reach_the_logs(fresh_db_url):
    port = free_port()
    created = json.loads(run_cli("accounts", "create", "--db", fresh_db_url, "--json"))
    server = ServeProcess("--http", f"127.0.0.1:{port}", "--db", fresh_db_url)
    try:
        server.wait_ready()
        sid, token = created["twilio"]["account_sid"], created["twilio"]["auth_token"]
        httpx.get(f"http://127.0.0.1:{port}/2010-04-01/Accounts/{sid}/Calls.json", auth=(sid, token))
        httpx.get(
            f"http://127.0.0.1:{port}/2010-04-01/Accounts/{sid}/Calls.json", auth=(sid, "wrong-" + token)
        )
    finally:
        server.stop()
    time.sleep(0)  # the reader thread has drained stdout once the process exited
    output = "".join(server.lines)
    assert token not in output
    assert created["signalwire"]["api_token"] not in output


def test_serve_starts_the_sandbox_phones(tmp_path):
    port = free_port()
    server = ServeProcess("--http", f"127.0.0.1:{port}", "--db", f"sqlite:///{tmp_path}/sb.db")
    try:
        banner = server.wait_ready()
        assert re.search(r"Sandbox phones +sip:\+14155550100@127\.0\.0\.1:\d+", banner)
    finally:
        assert server.stop() == 0


def children(pid: int, argument: bytes) -> list[int]:
    """The live processes whose parent is `pid` and whose command line has `argument` as one of its
    words (b"sandbox" for `callgate sandbox`)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        if parent == pid and argument in cmdline and alive(int(entry.name)):
            found.append(int(entry.name))
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1][0]
    except OSError:
        return False
    return state != "Z"  # a zombie has exited


def wait_gone(pid: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while alive(pid):
        assert time.monotonic() < deadline, f"process {pid} outlived its parent"
        time.sleep(0.05)  # polling the process table under a deadline


def test_the_sandbox_runs_in_a_child_that_goes_with_its_parent(tmp_path):
    server = ServeProcess("--http", f"127.0.0.1:{free_port()}", "--db", f"sqlite:///{tmp_path}/kid.db")
    server.wait_ready()
    (child,) = children(server.proc.pid, b"sandbox")
    assert alive(child)
    server.proc.kill()  # SIGKILL: the parent cleans nothing up; the child sees its stdin close
    server.proc.wait(timeout=30)
    wait_gone(child)


def test_the_sandbox_can_run_inside_the_serve_process(tmp_path):
    server = ServeProcess("--http", f"127.0.0.1:{free_port()}", "--db", f"sqlite:///{tmp_path}/in.db",
                          env={"CALLGATE_SANDBOX_PROCESS": "false"})  # fmt: skip
    try:
        banner = server.wait_ready()
        assert re.search(r"Sandbox phones +sip:\+14155550100@127\.0\.0\.1:\d+", banner)
        assert children(server.proc.pid, b"sandbox") == []
    finally:
        assert server.stop() == 0


def test_callgate_sandbox_answers_sipp(tmp_path):
    import shutil
    import socket

    if shutil.which("sipp") is None:
        pytest.fail("sipp is not installed: `make test` installs Debian's sip-tester")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        sip_port = s.getsockname()[1]
    proc = subprocess.Popen(
        [*CALLGATE, "sandbox", "--sip", f"127.0.0.1:{sip_port}"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        assert f"sip:127.0.0.1:{sip_port}" in proc.stdout.readline()

        def call(number: str) -> subprocess.CompletedProcess[bytes]:
            argv = ["sipp", "-sn", "uac", f"127.0.0.1:{sip_port}", "-s", number, "-i", "127.0.0.1", "-p", "0"]
            argv += ["-m", "1", "-nostdin", "-timeout", "20s", "-timeout_error"]
            return subprocess.run(argv, cwd=tmp_path, capture_output=True, timeout=40)

        sipp = call("+14155550120")
        # SIPp's built-in caller expects an answer: a busy number (0120) fails its call.
        assert sipp.returncode == 1
        person = call("+14155550100")
        assert person.returncode == 0, person.stderr[-2000:]
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0


def test_callgate_sandbox_runs_a_phone_book(tmp_path):
    """A scripted phone overrides the plan: the busy row 0120, scripted to answer, answers SIPp."""
    import shutil
    import socket

    if shutil.which("sipp") is None:
        pytest.fail("sipp is not installed: `make test` installs Debian's sip-tester")
    book = tmp_path / "phones.toml"
    book.write_text('[[phones]]\nnumber = "+14155550120"\nname = "not busy today"\nsteps = ["answer"]\n')
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        sip_port = s.getsockname()[1]
    proc = subprocess.Popen(
        [
            *CALLGATE,
            "sandbox",
            "--sip",
            f"127.0.0.1:{sip_port}",
            "--phones",
            str(book),
            "--recordings",
            str(tmp_path / "heard"),
        ],  # fmt: skip
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        assert f"sip:127.0.0.1:{sip_port}" in proc.stdout.readline()
        argv = ["sipp", "-sn", "uac", f"127.0.0.1:{sip_port}", "-s", "+14155550120", "-i", "127.0.0.1"]
        argv += ["-p", "0", "-m", "1", "-nostdin", "-timeout", "20s", "-timeout_error"]
        sipp = subprocess.run(argv, cwd=tmp_path, capture_output=True, timeout=40)
        assert sipp.returncode == 0, sipp.stderr[-2000:]
        # --recordings: what the sandbox heard on that call, one WAV per Call-ID (SIPp sent silence).
        (recording,) = (tmp_path / "heard").glob("*.wav")
        import wave

        with wave.open(str(recording)) as w:
            assert (w.getframerate(), w.getnchannels()) == (8000, 1)
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0


def test_a_bad_phone_book_stops_the_start_with_one_line(tmp_path):
    book = tmp_path / "phones.toml"
    book.write_text('[[phones]]\nnumber = "+14155550123"\nsteps = [{ say = "hi" }]\n')
    result = subprocess.run(
        [*CALLGATE, "serve", "--http", f"127.0.0.1:{free_port()}", "--db", f"sqlite:///{tmp_path}/x.db"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "CALLGATE_SANDBOX_PHONES": str(book), "CALLGATE_SANDBOX_SIP": "127.0.0.1:0"},
    )
    assert result.returncode == 1
    assert result.stderr.strip() == f"callgate: {book}: phones[0].steps[0]: answer the call first"
    assert not (tmp_path / "x.db").exists()  # nothing started, nothing written


def test_an_api_node_on_sqlite_writes_new_calls_from_a_helper_process_that_goes_with_it(tmp_path):
    """`callgate serve` with CALLGATE_WORKER=false: a burst of creates is written by the SQLite
    insert process (started by the first burst), every call is stored and listed, and the helper
    exits with its parent, even a parent killed with SIGKILL."""
    port = free_port()
    db = f"sqlite:///{tmp_path}/api.db"
    server = ServeProcess("--http", f"127.0.0.1:{port}", "--db", db, env={"CALLGATE_WORKER": "false"})
    try:
        banner = server.wait_ready()
        sid = re.search(r"AccountSid (AC[0-9a-f]{32})", banner).group(1)
        token = re.search(r"AuthToken ([0-9a-f]{32})", banner).group(1)
        client = Client(sid, token)
        client.api.base_url = f"http://127.0.0.1:{port}"
        with ThreadPoolExecutor(max_workers=24) as pool:  # bursts of concurrent creates
            sids = list(
                pool.map(
                    lambda n: (
                        client.calls.create(
                            to=f"+1415555{n:04d}", from_="+14155550199", url="https://e.com/v"
                        ).sid
                    ),
                    range(96),
                )
            )
        helpers = children(server.proc.pid, b"callgate.store.sqlite_process")
        assert len(helpers) == 1, "".join(server.lines)
        listed = {c.sid for c in client.calls.list(page_size=1000)}
        assert listed == set(sids) and len(listed) == 96
        assert client.calls(sids[-1]).fetch().status == "queued"
    finally:
        server.proc.kill()
        server.proc.wait(timeout=30)
    wait_gone(helpers[0])
    assert "Traceback" not in "".join(server.lines)
