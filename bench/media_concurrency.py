"""Concurrent two-way G.711 calls on one Callgate process: how late the media clock ticks, how many
packets are lost, what a call costs in CPU, at several call counts.

    .venv/bin/python bench/media_concurrency.py                       # N = 100, 500, 1000, 2000
    .venv/bin/python bench/media_concurrency.py --calls 1000 --seconds 20
    .venv/bin/python bench/media_concurrency.py --far-end sandbox     # the sandbox's echo phone

Callgate places N calls (SIP over loopback) to an echo: by default a SIPp UAS that answers with
PCMU and echoes every RTP packet back (`-rtp_echo`); with `--far-end sandbox`, the echo phone
(0180) of a `callgate sandbox` process, which sends its own stream and plays back what it hears.
Each call carries 50 packets a second each way. Each call leg sends a tone, driven by the one media
clock of the process (which also reads the sockets), and receives through its jitter buffer. By
default every call's RTP goes through the process's one shared port (`SharedRtpPort`: a slot's
packets leave in one sendmmsg, arrivals are read with recvmmsg), as `media_ports = "shared"` runs
calls; `--ports own` gives each call a socket of its own (the default of `callgate serve`). The
process is set up as `callgate worker` sets itself up (the collector, the open-files limit).

After the calls are up and a warm-up, the benchmark measures a window: the lateness of every clock
tick against the 20 ms grid (p50, p99, max), the packets sent, and the process's CPU time per call
per second, split into user and system time. Loss is 1 - received / sent over every packet of the
run, warm-up included, counted once the sending has stopped and the echoes in flight have come back
("lost" is the count behind it); against the sandbox, which sends on its own clock rather than
echoing packet for packet, it is only a rough figure. "drops" are the datagrams the kernel dropped
for a full receive buffer on Callgate's RTP sockets over the run, "far" those on SIPp's echo socket
(the drops column of /proc/net/udp), "unm" the datagrams a shared port could give to no call. The
reference in the same run is the ideal: 50 packets a second each way per call and 0 ms lateness;
the ratio printed is sent / ideal. Needs `sipp` (Debian package sip-tester) for the default far
end.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from callgate.runtime import raise_open_files_limit, settle_heap, tune_gc
from callgate.telephony.aio.endpoint import SipEndpoint
from callgate.telephony.aio.leg import CallLeg, Outcome
from callgate.telephony.aio.media import RtpStream, media_clock
from callgate.telephony.media.tones import tone

SCENARIO = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="answer with PCMU and echo">
  <recv request="INVITE" />
  <send>
    <![CDATA[

      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:echo@[local_ip]:[local_port]>
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=sipp 1 1 IN IP4 [media_ip]
      s=-
      c=IN IP4 [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 0 101
      a=rtpmap:0 PCMU/8000
      a=rtpmap:101 telephone-event/8000

    ]]>
  </send>
  <recv request="ACK" />
  <recv request="BYE" timeout="600000" />
  <send>
    <![CDATA[

      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0

    ]]>
  </send>
</scenario>
"""


def socket_drops(ports: set[int]) -> int:
    """Datagrams the kernel dropped (a full receive buffer) on the UDP sockets bound to `ports`, from
    the `drops` column of /proc/net/udp and udp6; 0 where there are none."""
    total = 0
    for table in ("/proc/net/udp", "/proc/net/udp6"):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            if int(fields[1].rsplit(":", 1)[1], 16) in ports:
                total += int(fields[-1])
    return total


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_far_end(
    far_end: str, n: int, workdir: Path
) -> tuple[subprocess.Popen[bytes], str, int, int | None]:
    """The echo every call goes to: the process, the SIP URI to call, its SIP port, and its media
    port where it has one for every call (SIPp's echo)."""
    sip_port = free_udp_port()
    if far_end == "sandbox":
        uas = subprocess.Popen(
            [sys.executable, "-m", "callgate", "sandbox", "--sip", f"127.0.0.1:{sip_port}"],
            cwd=workdir, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        assert uas.stdout is not None
        uas.stdout.readline()  # its first line: the address it listens on
        return uas, f"sip:+14155550180@127.0.0.1:{sip_port}", sip_port, None
    (workdir / "echo.xml").write_text(SCENARIO)
    media_port = free_udp_port()
    uas = subprocess.Popen(
        ["sipp", "-sf", "echo.xml", "-i", "127.0.0.1", "-p", str(sip_port), "-mi", "127.0.0.1",
         "-mp", str(media_port), "-rtp_echo", "-m", str(n), "-nostdin", "-max_socket", str(n + 100)],
        cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    time.sleep(0.5)  # let SIPp bind (INVITEs would be retransmitted anyway)
    return uas, f"sip:echo@127.0.0.1:{sip_port}", sip_port, media_port


async def run(n: int, seconds: float, workdir: Path, far_end: str, shared: bool) -> dict[str, float]:
    uas, target, sip_port, far_media_port = start_far_end(far_end, n, workdir)
    endpoint = await SipEndpoint.open("127.0.0.1", 0)
    frame = tone((440.0,), 0.02)
    legs: list[CallLeg] = []
    gate = asyncio.Semaphore(100)

    async def place() -> None:
        async with gate:
            media = await RtpStream.open(shared=shared)
            destination = ("127.0.0.1", sip_port)
            leg = CallLeg(endpoint, target=target, destination=destination, from_user="+14155550199",
                          media=media)  # fmt: skip
            result = await leg.dial(timeout_s=30)
            if result.outcome is Outcome.ANSWERED:
                media.play(itertools.repeat(frame))
                legs.append(leg)
            else:
                media.close()

    await asyncio.gather(*(place() for _ in range(n)))
    await asyncio.sleep(2.0)  # warm-up: every stream sending and being echoed
    clock = media_clock()
    clock.lateness.clear()
    sent0 = sum(leg.media.stats.packets_sent for leg in legs if leg.media)
    cpu0, wall0, times0 = time.process_time(), time.perf_counter(), os.times()
    await asyncio.sleep(seconds)
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    times = os.times()
    lateness = np.array(clock.lateness) * 1000
    sent = sum(leg.media.stats.packets_sent for leg in legs if leg.media) - sent0
    for leg in legs:  # stop sending, and give the echoes in flight time to come back before counting
        if leg.media:
            leg.media.sending = False
    await asyncio.sleep(0.5)
    total_sent = sum(leg.media.stats.packets_sent for leg in legs if leg.media)
    total_received = sum(leg.media.stats.packets_received for leg in legs if leg.media)
    ports = {id(leg.media.port): leg.media.port for leg in legs if leg.media and leg.media.port}
    unmatched = sum(port.unmatched for port in ports.values())
    # Each socket counts its drops from its start, and every socket here started with this run.
    ours = {leg.media.local_address[1] for leg in legs if leg.media}
    drops = socket_drops(ours), socket_drops({far_media_port} if far_media_port is not None else set())
    await asyncio.gather(*(leg.hangup() for leg in legs))
    endpoint.close()
    if far_end == "sandbox":
        uas.terminate()
    try:
        uas.wait(timeout=30)
    except subprocess.TimeoutExpired:
        uas.kill()
    return {
        "calls": len(legs),
        "p50": float(np.percentile(lateness, 50)),
        "p99": float(np.percentile(lateness, 99)),
        "max": float(lateness.max()),
        "sent_pps": sent / wall,
        "ideal_pps": 50.0 * len(legs),
        "loss": 1 - total_received / total_sent if total_sent else 1.0,
        "lost": total_sent - total_received,
        "drops": drops[0],
        "far_drops": drops[1],
        "unmatched": unmatched,
        "cpu_core": cpu / wall,
        "cpu_per_call_ms": 1000 * cpu / wall / max(1, len(legs)),
        "user_core": (times.user - times0.user) / wall,
        "system_core": (times.system - times0.system) / wall,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, nargs="*", default=[100, 500, 1000, 2000])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--far-end", choices=("sipp", "sandbox"), default="sipp",
                        help="who echoes: SIPp's -rtp_echo, or the sandbox's echo phone (0180) in a "
                             "`callgate sandbox` process")  # fmt: skip
    parser.add_argument("--ports", choices=("shared", "own"), default="shared",
                        help="the calls' RTP on the process's one shared port (sendmmsg/recvmmsg), or on "
                             "a port pair of each call's own")  # fmt: skip
    args = parser.parse_args()
    if args.far_end == "sipp" and shutil.which("sipp") is None:
        print("sipp is not installed (Debian package sip-tester)", file=sys.stderr)
        return 2
    raise_open_files_limit()  # two sockets a call, as `callgate worker` does
    tune_gc()  # the collector as a `callgate worker` process runs it
    settle_heap()
    try:
        import uvloop

        runner = uvloop.run
    except ImportError:
        runner = asyncio.run
    echo = "a SIPp echo" if args.far_end == "sipp" else "the sandbox's echo phone"
    print(f"Two-way G.711 calls against {echo}, one Callgate process, {args.seconds:.0f} s windows; "
          f"{platform.python_implementation()} {platform.python_version()}")  # fmt: skip
    print(f"{'calls':>6}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}{'sent pps':>10}{'ideal':>9}{'ratio':>7}"
          f"{'loss':>8}{'lost':>7}{'drops':>7}{'far':>6}{'unm':>5}{'CPU core':>10}{'user':>6}{'system':>8}"
          f"{'CPU/call':>10}")  # fmt: skip
    for n in args.calls:
        with tempfile.TemporaryDirectory(prefix="callgate-media-") as tmp:
            r = runner(run(n, args.seconds, Path(tmp), args.far_end, args.ports == "shared"))
        print(f"{r['calls']:>6.0f}{r['p50']:>9.2f}{r['p99']:>9.2f}{r['max']:>9.2f}{r['sent_pps']:>10.0f}"
              f"{r['ideal_pps']:>9.0f}{r['sent_pps'] / r['ideal_pps']:>7.2f}{r['loss']:>8.2%}"
              f"{r['lost']:>7.0f}{r['drops']:>7.0f}{r['far_drops']:>6.0f}{r['unmatched']:>5.0f}"
              f"{r['cpu_core']:>10.2f}{r['user_core']:>6.2f}{r['system_core']:>8.2f}"
              f"{r['cpu_per_call_ms']:>8.3f}ms", flush=True)  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
