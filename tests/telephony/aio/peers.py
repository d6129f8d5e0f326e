"""Real SIP peers from Debian for the interop tests: SIPp (sip-tester) and Kamailio, on loopback."""

from __future__ import annotations

import asyncio
import random
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


def free_media_port() -> int:
    """A port for SIPp's media (`-mp`; it binds the port and the three after it), below both the
    ports the system hands out for port 0 (32768 up, here) and Callgate's RTP range (16384-32767):
    a port picked from those could be taken, between the pick and SIPp's start, by any socket of
    the test bound to port 0 (SIPp then fails: errno 98, and the call times out with 408)."""
    for _ in range(200):
        port = random.randrange(10000, 16380)
        probes = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(4)]
        try:
            for offset, probe in enumerate(probes):
                probe.bind(("127.0.0.1", port + offset))
        except OSError:
            continue
        finally:
            for probe in probes:
                probe.close()
        return port
    raise OSError("no four free UDP ports in 10000-16383")


def free_sip_port() -> int:
    """A port free for UDP and TCP, with the next one free for TCP too: baresip listens on all three
    (UDP and TCP on the port, TLS on the next), and fails to start if any is taken."""
    for _ in range(50):
        port = free_udp_port()
        try:
            for candidate in (port, port + 1):
                with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
                    s.bind(("127.0.0.1", candidate))
        except OSError:
            continue
        return port
    raise AssertionError("no free port for baresip")


def free_tcp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Sipp:
    """SIPp as the far end of `calls` calls; `wait()` returns its exit status (0: they passed)."""

    def __init__(self, scenario: list[str], workdir: Path, *, tcp: bool = False, calls: int = 1) -> None:
        if shutil.which("sipp") is None:
            pytest.fail("sipp is not installed: `make test` installs Debian's sip-tester")
        self.port = free_tcp_port() if tcp else free_udp_port()
        if tcp:
            scenario = [*scenario, "-t", "t1"]
        self.proc = subprocess.Popen(
            ["sipp", *scenario, "-i", "127.0.0.1", "-p", str(self.port), "-m", str(calls), "-nostdin",
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

    async def finished(self) -> int:
        """`wait` with the event loop running meanwhile (what we still have to send, leaves)."""
        return await asyncio.to_thread(self.wait)


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
        wait_for_sip(self.address, self.proc, self.log, "kamailio")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def wait_for_sip(address: tuple[str, int], proc: subprocess.Popen[bytes], log: Path, what: str) -> None:
    """Probe `address` with OPTIONS until anything answers (the peer is up), for at most 10 s."""
    probe = (
        "OPTIONS sip:{host}:{port} SIP/2.0\r\n"
        "Via: SIP/2.0/UDP 127.0.0.1:{me};branch=z9hG4bKprobe{n}\r\n"
        "Max-Forwards: 70\r\nFrom: <sip:probe@127.0.0.1>;tag=p\r\nTo: <sip:{host}>\r\n"
        "Call-ID: probe{n}@127.0.0.1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
    )
    deadline = time.monotonic() + 10
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        s.settimeout(0.1)
        me, n = s.getsockname()[1], 0
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                pytest.fail(f"{what} exited: {log.read_text(errors='replace')[-2000:]}")
            n += 1
            s.sendto(probe.format(host=address[0], port=address[1], me=me, n=n).encode(), address)
            try:
                if s.recv(4096).startswith(b"SIP/2.0 "):
                    return
            except TimeoutError:
                continue
    pytest.fail(f"{what} did not answer within 10 s")


class Baresip:
    """baresip, a real softphone, answering automatically and recording what it hears (`sndfile`:
    dump-*-dec.wav) while it sends `source` (a WAV, padded so it stays on the line)."""

    def __init__(self, workdir: Path, source: Path) -> None:
        if shutil.which("baresip") is None:
            pytest.fail("baresip is not installed: `make test` installs Debian's baresip")
        self.port = free_sip_port()
        self.dir = workdir / "baresip"
        self.dir.mkdir()
        self.recordings = workdir / "baresip-recordings"
        self.recordings.mkdir()
        (self.dir / "config").write_text(
            "module_path /usr/lib/baresip/modules\n"
            f"sip_listen 127.0.0.1:{self.port}\n"
            "net_interface 127.0.0.1\n"
            f"audio_source aufile,{source}\n"
            "audio_player aubridge,nil\n"
            "audio_alert aubridge,nil\n"
            "ausrc_srate 8000\nauplay_srate 8000\n"
            "rtp_ports 20000-20999\n"
            "module g711.so\nmodule aufile.so\nmodule aubridge.so\nmodule sndfile.so\n"
            "module_tmp uuid.so\nmodule_tmp account.so\n"
            "module_app menu.so\n"
            f"snd_path {self.recordings}\n"
        )
        (self.dir / "accounts").write_text(
            f"<sip:callee@127.0.0.1:{self.port}>;regint=0;answermode=auto;audio_codecs=PCMU\n"
        )
        self.log = workdir / "baresip.log"
        self.proc = subprocess.Popen(
            ["baresip", "-f", str(self.dir)], stdin=subprocess.DEVNULL, stdout=self.log.open("wb"),
            stderr=subprocess.STDOUT,
        )  # fmt: skip
        self.target = f"sip:callee@127.0.0.1:{self.port}"
        self.destination = ("127.0.0.1", self.port)
        wait_for_sip(self.destination, self.proc, self.log, "baresip")

    def stop(self) -> None:
        """Quit (baresip finishes its recordings as it goes)."""
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def heard(self) -> Path:
        (path,) = self.recordings.glob("dump-*-dec.wav")
        return path
