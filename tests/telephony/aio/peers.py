"""Real SIP peers from Debian for the interop tests: SIPp (sip-tester) and Kamailio, on loopback."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

SCENARIOS = Path(__file__).parent / "scenarios"
KAMAILIO_CFG = Path(__file__).parent / "kamailio" / "proxy.cfg"


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def free_tcp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Sipp:
    """SIPp as the far end of one call; `wait()` returns its exit status (0: the call passed)."""

    def __init__(self, scenario: list[str], workdir: Path, *, tcp: bool = False) -> None:
        if shutil.which("sipp") is None:
            pytest.fail("sipp is not installed: `make test` installs Debian's sip-tester")
        self.port = free_tcp_port() if tcp else free_udp_port()
        if tcp:
            scenario = [*scenario, "-t", "t1"]
        self.proc = subprocess.Popen(
            ["sipp", *scenario, "-i", "127.0.0.1", "-p", str(self.port), "-m", "1", "-nostdin",
             "-timeout", "30s", "-timeout_error", "-trace_err"],
            cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )  # fmt: skip
        self.target = f"sip:service@127.0.0.1:{self.port}"
        self.destination = ("127.0.0.1", self.port)

    def wait(self) -> int:
        try:
            return self.proc.wait(timeout=30)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()


class Kamailio:
    """Kamailio as a record-routing proxy that challenges INVITEs with 407 and relays them upstream
    (tests/telephony/aio/kamailio/proxy.cfg). Ready once it answers an OPTIONS probe."""

    def __init__(self, workdir: Path, *, upstream: tuple[str, int], password: str = "secret",
                 algorithm: str = "MD5") -> None:  # fmt: skip
        if shutil.which("kamailio") is None:
            pytest.fail("kamailio is not installed: `make test` installs Debian's kamailio")
        self.port = free_udp_port()
        self.address = ("127.0.0.1", self.port)
        rundir = workdir / "kamailio"
        rundir.mkdir()
        self.proc = subprocess.Popen(
            ["kamailio", "-f", str(KAMAILIO_CFG), "-DD", "-E", "-Y", str(rundir), "-P", str(rundir / "pid"),
             "-m", "32", "-M", "4", "-l", f"udp:127.0.0.1:{self.port}",
             "-A", f'UPSTREAM="sip:{upstream[0]}:{upstream[1]}"', "-A", f'PASSWORD="{password}"',
             "-A", f'ALGORITHM="{algorithm}"'],
            stdout=subprocess.DEVNULL, stderr=(workdir / "kamailio.log").open("wb"),
        )  # fmt: skip
        self.log = workdir / "kamailio.log"
        self._wait_ready()

    def _wait_ready(self) -> None:
        probe = (
            "OPTIONS sip:127.0.0.1:{port} SIP/2.0\r\n"
            "Via: SIP/2.0/UDP 127.0.0.1:{me};branch=z9hG4bKprobe{n}\r\n"
            "Max-Forwards: 70\r\nFrom: <sip:probe@127.0.0.1>;tag=p\r\nTo: <sip:127.0.0.1>\r\n"
            "Call-ID: probe{n}@127.0.0.1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
        )
        deadline = time.monotonic() + 10
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind(("127.0.0.1", 0))
            s.settimeout(0.1)
            me = s.getsockname()[1]
            n = 0
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    pytest.fail(f"kamailio exited: {self.log.read_text()[-2000:]}")
                n += 1
                s.sendto(probe.format(port=self.port, me=me, n=n).encode(), self.address)
                try:
                    if s.recv(4096).startswith(b"SIP/2.0 "):
                        return
                except TimeoutError:
                    continue
        pytest.fail("kamailio did not answer within 10 s")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
