"""Calls per second: Callgate's UAC against a SIPp UAS, beside SIPp's own UAC against the same kind of
UAS, in the same run, on loopback.

    .venv/bin/python bench/sip_cps.py                     # 1000 calls each, 50 at a time
    .venv/bin/python bench/sip_cps.py --calls 2000 --concurrency 100

Each call: INVITE, 180, 200, ACK, then at once BYE and its 200 (SIPp's built-in `uac`/`uas`
scenarios). SIPp's UAC is started with a rate far above what the pair can do (`-r 5000`) and the same
concurrency limit (`-l`), so it runs as fast as it can; Callgate runs `--concurrency` callers over
one UDP endpoint, each placing its next call as soon as the last one ends, in a process whose
garbage collector is set as `callgate worker` sets it (`callgate.runtime.tune_gc`). Each side gets
its own fresh SIPp UAS. Prints calls per second, failed calls and the ratio Callgate / SIPp. Needs
`sipp` (Debian package sip-tester).
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from callgate.runtime import tune_gc
from callgate.telephony.aio.endpoint import SipEndpoint
from callgate.telephony.aio.leg import CallLeg, Outcome


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_uas(workdir: Path, calls: int) -> tuple[subprocess.Popen[bytes], int]:
    port = free_udp_port()
    proc = subprocess.Popen(
        ["sipp", "-sn", "uas", "-i", "127.0.0.1", "-p", str(port), "-m", str(calls), "-nostdin",
         "-timeout", "120s", "-timeout_error"],
        cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    time.sleep(0.5)  # let SIPp bind its socket (our INVITEs would be retransmitted anyway)
    return proc, port


def stop(proc: subprocess.Popen[bytes]) -> int:
    try:
        return proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait()


def sipp_reference(workdir: Path, calls: int, concurrency: int) -> tuple[float, int]:
    uas, port = start_uas(workdir, calls)
    started = time.perf_counter()
    uac = subprocess.run(
        ["sipp", "-sn", "uac", f"127.0.0.1:{port}", "-i", "127.0.0.1", "-p", "0", "-r", "5000", "-rp", "1000",
         "-l", str(concurrency), "-m", str(calls), "-nostdin", "-timeout", "120s", "-timeout_error",
         "-trace_stat", "-stf", "uac_stats.csv"],
        cwd=workdir, capture_output=True, timeout=180,
    )  # fmt: skip
    elapsed = time.perf_counter() - started
    stop(uas)
    failed = _sipp_failed(workdir / "uac_stats.csv") if uac.returncode in (0, 1) else calls
    return calls / elapsed, failed


def _sipp_failed(stats: Path) -> int:
    lines = stats.read_text().splitlines()
    header = lines[0].split(";")
    last = lines[-1].split(";")
    return int(last[header.index("FailedCall(C)")])


async def callgate(workdir: Path, calls: int, concurrency: int) -> tuple[float, int]:
    uas, port = start_uas(workdir, calls)
    endpoint = await SipEndpoint.open("127.0.0.1", 0)
    left = calls
    failed = 0

    async def caller() -> None:
        """One of `concurrency` callers, each placing calls one after the other while any are left."""
        nonlocal left, failed
        while left > 0:
            left -= 1
            leg = CallLeg(endpoint, target=f"sip:service@127.0.0.1:{port}", destination=("127.0.0.1", port),
                          from_user="+14155550199")  # fmt: skip
            result = await leg.dial(timeout_s=30)
            if result.outcome is not Outcome.ANSWERED or await leg.hangup() != 200:
                failed += 1

    started = time.perf_counter()
    await asyncio.gather(*(caller() for _ in range(min(concurrency, calls))))
    elapsed = time.perf_counter() - started
    endpoint.close()
    stop(uas)
    return calls / elapsed, failed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=50)
    args = parser.parse_args()
    if shutil.which("sipp") is None:
        print("sipp is not installed (Debian package sip-tester)", file=sys.stderr)
        return 2
    tune_gc()  # the collector as a `callgate worker` process runs it
    try:
        import uvloop

        run = uvloop.run
    except ImportError:
        run = asyncio.run
    with tempfile.TemporaryDirectory(prefix="callgate-cps-") as tmp:
        workdir = Path(tmp)
        sipp_cps, sipp_failed = sipp_reference(workdir, args.calls, args.concurrency)
        cg_cps, cg_failed = run(callgate(workdir, args.calls, args.concurrency))
    print(f"SIP calls per second: {args.calls} calls, {args.concurrency} at a time, loopback; "
          f"{platform.python_implementation()} {platform.python_version()}")  # fmt: skip
    print(f"{'caller':<22}{'calls/s':>10}{'failed':>8}")
    print(f"{'SIPp uac':<22}{sipp_cps:>10.1f}{sipp_failed:>8}")
    print(f"{'Callgate CallLeg':<22}{cg_cps:>10.1f}{cg_failed:>8}")
    print(f"ratio Callgate / SIPp: {cg_cps / sipp_cps:.2f} (target 0.5, and at least 200 calls/s)")
    return 0 if cg_failed == 0 and sipp_failed == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
