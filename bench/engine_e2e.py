"""Calls per second through the whole engine: create, dial, document, hang up, four status callbacks.

    .venv/bin/python bench/engine_e2e.py                                  # --rate 20 50 100 --seconds 20
    .venv/bin/python bench/engine_e2e.py --rate 100 --seconds 10 --store postgresql
    .venv/bin/python bench/engine_e2e.py --rate 100 --profile              # py-spy on the last rate

One call, as a user's application sees it: a form POST to Calls.json (the form the twilio SDK sends:
To, From, Url, StatusCallback and the four StatusCallbackEvent values) on `callgate serve` (a
subprocess, its own fresh store) -> the worker dials a sandbox phone of a phone book written here
(180 and 200 at once, then silent) -> Callgate fetches the Url from a local receiver, which answers
`<Response><Hangup/></Response>` (`--document inline` sends that as Twiml instead) -> Callgate sends
BYE -> the status callbacks initiated, ringing, answered and completed reach the receiver (a
subprocess: raw ASGI on uvicorn, uvloop and httptools, no signature check), which notes the wall
clock at which each one arrives.

Each offered rate gets a fresh store and a fresh `callgate serve` (CALLGATE_CALLS_PER_SECOND far
above the rate, so the per-account limiter never throttles), 20 warm-up calls, the two references,
then the measured calls: sent open-loop (call i at t0 + i/rate, whatever the answers before it),
after which the benchmark waits until every created call's final callback has arrived, or --drain
seconds; calls still unfinished then are counted as such and dropped with that server. Figures:

- done/s: `completed` callbacks arriving in the window [t0 + 1 s, t0 + seconds], per second (what
  the engine sustains once running); lag: last `completed` callback - last POST.
- callback latency: the receiver's arrival time - the moment of the event, taken from the outbox row
  the engine writes with the event (`webhooks.created_at`, the engine's clock inside the transaction
  that records the event), read from the store after the run and matched by CallSid and
  SequenceNumber. The callback's own Timestamp parameter has whole seconds only, too coarse for this.
- create->initiated: the 201 of the POST (as the client saw it) -> the `initiated` callback's
  arrival: queueing, the worker's claim and the callback, as the application sees them.
- call: the POST's scheduled start -> the `completed` callback: the whole call, as the app sees it.
- CPU: utime + stime of the `callgate serve` process and of its event loop's thread
  (/proc/PID/task/PID/stat) from t0 to the last callback, in cores, and per finished call; plus what
  the rest of the machine used meanwhile (/proc/stat), since the figures mean little on a busy one.

References in the same run, at the same rate (--reference):
- `webhook`: the same receiver hit by a bare httpx.AsyncClient (a general-purpose client; Callgate's
  own is webhooks/http11.py) with the same callback bodies, 4 x rate requests a second, open-loop:
  latency from the scheduled send to the arrival. The ceiling of the callback path without the engine
  and its store.
- `sip`: SIPp's built-in UAC calling the same sandbox phone at the same rate (INVITE, 180, 200, ACK,
  BYE): calls/s and the CPU the `callgate serve` process spends on it. The sandbox runs in its own
  child process by default (`sandbox_process`), so this is near zero; with CALLGATE_SANDBOX_PROCESS=false
  it is the callee's share of the engine's process.

Everything is on 127.0.0.1 and bounded: rate x seconds calls per rate, --drain seconds at most to
finish. Exit status 1 if a create failed, a call ended other than `completed` or a callback had no
outbox row; unfinished calls (an offered rate beyond the engine's) are reported, not failures.
Servers are stopped and stores removed at the end, on error or SIGTERM too. Needs `sipp` (Debian
package sip-tester) for the `sip` reference; py-spy for --profile; psql for PostgreSQL.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import collections
import contextlib
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

from api_create import BIN, HERE, Server, Store, free_port, run, wait_ready

PHONE = "+14155550198"
CALLER = "+14155550199"
HANGUP = "<Response><Hangup/></Response>"
PHONE_BOOK = f"""[[phones]]
number = "{PHONE}"
name = "bench: rings 0 s, answers, then silent until the caller hangs up"
steps = [{{ ring = 0 }}, "answer"]
"""
EVENTS = ("initiated", "ringing", "answered", "completed")
EVENT_OF = {"initiated": "initiated", "ringing": "ringing", "in-progress": "answered"}  # else completed
TERMINAL = frozenset({"completed", "busy", "failed", "no-answer", "canceled"})
CALLS_PATH = "/2010-04-01/Accounts/{sid}/Calls.json"
REF_SID = "CAref"
LEGEND = """\
done = completed calls (within --drain); other = ended otherwise; unfin = no final callback within --drain;
done/s = completed callbacks a second in [t0 + 1 s, t0 + seconds]; lag = last completed - last POST;
latencies in ms: cb = event (outbox row) -> callback arrival, init = 201 -> initiated callback,
call = POST -> completed callback, api = POST -> 201; CPU/loop = cores of `callgate serve`/its
event loop's thread; ms/call = its CPU per finished call; others = cores used by everything
else on the machine (the receiver and this client excluded)"""


# ---------------------------------------------------------------------------------------------------
# The receiver: a separate process, so its clock readings do not wait on the load generator.


class Receiver:
    """Raw ASGI: /status notes each callback, /voice serves the document, /results hands them over."""

    def __init__(self) -> None:
        self.callbacks: list[tuple[float, str, str, int]] = []  # (arrival, CallSid, CallStatus, seq)
        self.fetches: list[tuple[float, str]] = []
        self.bodies: dict[str, str] = {}  # CallStatus -> the first body seen (the reference reuses them)
        self.ended = 0

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        at = time.time()
        chunks = []
        more = True
        while more:
            message = await receive()
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        body = b"".join(chunks).decode()
        path = scope["path"]
        if path == "/status":
            form = dict(parse_qsl(body))
            status = form.get("CallStatus", "")
            self.callbacks.append((at, form.get("CallSid", ""), status, int(form.get("SequenceNumber", -1))))
            self.ended += status in TERMINAL
            if not form.get("CallSid", "").startswith(REF_SID):
                self.bodies.setdefault(status, body)
            await _answer(send, 204, b"", b"text/plain")
        elif path == "/voice":
            self.fetches.append((at, dict(parse_qsl(body)).get("CallSid", "")))
            await _answer(send, 200, HANGUP.encode(), b"text/xml")
        elif path == "/ended":
            await _answer(send, 200, str(self.ended).encode(), b"text/plain")
        elif path == "/results":
            out = {"callbacks": self.callbacks, "fetches": self.fetches, "bodies": self.bodies}
            self.callbacks, self.fetches, self.ended = [], [], 0
            await _answer(send, 200, json.dumps(out).encode(), b"application/json")
        else:
            await _answer(send, 200 if path == "/healthz" else 404, b"ok", b"text/plain")


async def _answer(send: Any, status: int, body: bytes, content_type: bytes) -> None:
    headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def serve_receiver(address: str) -> int:
    import uvicorn

    host, _, port = address.rpartition(":")
    uvicorn.run(
        Receiver(),
        host=host,
        port=int(port),
        loop="uvloop",
        http="httptools",
        lifespan="off",
        access_log=False,
        server_header=False,
        log_level="warning",
    )
    return 0


def receiver_get(base: str, path: str) -> Any:
    with urllib.request.urlopen(base + path, timeout=30) as resp:
        return json.loads(resp.read())


# ---------------------------------------------------------------------------------------------------
# Measuring


def cpu_s(pid: int, tid: int | None = None) -> float:
    """utime + stime of a process (all its threads), or of one of its threads, in seconds."""
    path = f"/proc/{pid}/stat" if tid is None else f"/proc/{pid}/task/{tid}/stat"
    fields = Path(path).read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_busy_s() -> float:
    """CPU seconds all processes of the machine have used (the `cpu` line of /proc/stat)."""
    ticks = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = ticks[3] + ticks[4]  # idle, iowait
    return (sum(ticks[:8]) - idle) / os.sysconf("SC_CLK_TCK")


@dataclass
class Usage:
    """CPU seconds of `callgate serve` (its event loop's thread apart), the receiver, this process and
    the whole machine, at one moment; subtract two to get a window."""

    wall: float
    cpu_s: float
    main_s: float
    receiver_s: float
    own_s: float
    machine_s: float

    @classmethod
    def now(cls, pid: int, receiver: int | None = None) -> Usage:
        return cls(
            time.time(),
            cpu_s(pid),
            cpu_s(pid, pid),
            cpu_s(receiver) if receiver else 0.0,
            time.process_time(),
            machine_busy_s(),
        )

    def __sub__(self, other: Usage) -> Usage:
        return Usage(*(a - b for a, b in zip(vars(self).values(), vars(other).values(), strict=True)))

    @property
    def cores(self) -> float:
        return self.cpu_s / self.wall

    @property
    def main_cores(self) -> float:
        return self.main_s / self.wall

    @property
    def receiver_cores(self) -> float:
        return self.receiver_s / self.wall

    @property
    def other_cores(self) -> float:
        """Everything else the machine ran meanwhile (other jobs on a shared machine, SIPp, the kernel)."""
        return max(0.0, self.machine_s - self.cpu_s - self.receiver_s - self.own_s) / self.wall


def pct(values: list[float], q: float) -> float:
    """Nearest-rank percentile; NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))]


@dataclass
class Created:
    scheduled: float  # wall clock
    answered: float = 0.0
    status: int = 0
    sid: str = ""


@dataclass
class RateResult:
    rate: float
    seconds: float
    offered: int
    created: int = 0
    api_p50_ms: float = 0.0
    api_p99_ms: float = 0.0
    completed: int = 0  # calls whose final callback arrived with CallStatus=completed
    not_completed: dict[str, int] = field(default_factory=dict)
    missing: int = 0  # created calls whose final callback never arrived within the drain
    window_cps: float = 0.0
    lag_s: float = 0.0
    callback_p50_ms: float = 0.0
    callback_p99_ms: float = 0.0
    callback_max_ms: float = 0.0
    callback_p99_by_event: dict[str, float] = field(default_factory=dict)
    callbacks: int = 0
    unmatched_callbacks: int = 0
    initiated_p50_ms: float = 0.0
    initiated_p99_ms: float = 0.0
    call_p50_ms: float = 0.0
    call_p99_ms: float = 0.0
    cpu_cores: float = 0.0
    main_thread_cores: float = 0.0
    cpu_ms_per_call: float = 0.0
    receiver_cores: float = 0.0
    other_cores: float = 0.0
    ref_webhook: dict[str, float] | None = None
    ref_sip: dict[str, float] | None = None
    profile: str = ""


async def offer(
    client: Any, url: str, n: int, rate: float, form_for: Any, limit: int
) -> tuple[list[Created], float]:
    """POST n requests open-loop at `rate`; returns what each got and t0 (wall clock)."""
    loop = asyncio.get_running_loop()
    gate = asyncio.Semaphore(limit)
    results = [Created(0.0) for _ in range(n)]
    tasks = []

    async def one(i: int) -> None:
        async with gate:
            try:
                resp = await client.post(url, content=form_for(i))
                results[i].status = resp.status_code
                if resp.status_code == 201:
                    results[i].sid = resp.json()["sid"]
            except Exception as exc:  # counted as a failed create; the run goes on
                results[i].status = -1
                print(f"  POST failed: {exc!r}", file=sys.stderr)
            results[i].answered = time.time()

    mono0, wall0 = loop.time() + 0.05, time.time() + 0.05
    for i in range(n):
        delay = mono0 + i / rate - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        results[i].scheduled = wall0 + i / rate
        tasks.append(asyncio.create_task(one(i)))
    await asyncio.gather(*tasks)
    return results, wall0


async def outbox_times(db_url: str, after_seq: int) -> tuple[dict[tuple[str, int], float], int]:
    """(CallSid, SequenceNumber) -> created_at of the status callbacks queued after `after_seq`."""
    from sqlalchemy import select
    from sqlalchemy.ext.asyncio import create_async_engine

    from callgate.store.sql import async_url
    from callgate.store.tables import webhooks

    engine = create_async_engine(async_url(db_url))
    c = webhooks.c
    query = select(c.seq, c.params, c.created_at).where(c.kind == "status", c.seq > after_seq)
    times: dict[tuple[str, int], float] = {}
    last = after_seq
    try:
        async with engine.connect() as conn:
            for seq, params, created_at in (await conn.execute(query)).all():
                form = dict(params)
                times[(form["CallSid"], int(form["SequenceNumber"]))] = created_at.replace(
                    tzinfo=UTC
                ).timestamp()
                last = max(last, seq)
    finally:
        await engine.dispose()
    return times, last


class Bench:
    """One rate: a fresh store and `callgate serve`, the references, then the engine's calls."""

    def __init__(self, args: argparse.Namespace, workdir: Path, rbase: str, receiver: Server) -> None:
        self.args, self.workdir, self.rbase, self.receiver = args, workdir, rbase, receiver
        document = [("Url", f"{rbase}/voice")] if args.document == "url" else [("Twiml", HANGUP)]
        self.form = urlencode(
            [("To", PHONE), ("From", CALLER), *document, ("StatusCallback", f"{rbase}/status")]
            + [("StatusCallbackEvent", e) for e in EVENTS]
        ).encode()
        self.bodies: dict[str, str] = {}
        self.outbox_seq = 0

    def start(self, name: str, servers: list[Server], stores: list[Store]) -> None:
        """A fresh store and `callgate serve` for one rate (no backlog or store size carried over)."""
        folder = self.workdir / name
        folder.mkdir()
        self.store = store = Store(self.args.store, folder, self.args.pg_url)
        stores.append(store)
        store.create()
        account = json.loads(
            run([self.args.callgate, "accounts", "create", "--db", store.url, "--json"]).stdout
        )
        self.sid = account["twilio"]["account_sid"]
        token = account["twilio"]["auth_token"]
        self.auth = "Basic " + base64.b64encode(f"{self.sid}:{token}".encode()).decode()
        (folder / "phones.toml").write_text(PHONE_BOOK)
        env = {
            **os.environ,
            "CALLGATE_SANDBOX_SIP": "127.0.0.1:0",
            "CALLGATE_SIP": "127.0.0.1:0",
            "CALLGATE_SANDBOX_PHONES": str(folder / "phones.toml"),
            "CALLGATE_CALLS_PER_SECOND": str(10 * max(self.args.rate)),  # never the limit here
            "CALLGATE_RECORDINGS": str(folder / "recordings"),
            "NO_PROXY": "127.0.0.1",
        }
        port = free_port()
        self.callgate = Server(
            f"callgate ({name})",
            [self.args.callgate, "serve", "--http", f"127.0.0.1:{port}", "--db", store.url],
            folder / "callgate.log",
            env=env,
        )
        servers.append(self.callgate)
        self.base = f"http://127.0.0.1:{port}"
        wait_ready(self.callgate, self.base + "/healthz")
        self.sandbox = self._sandbox_address()
        self.outbox_seq = 0

    def _sandbox_address(self) -> tuple[str, int]:
        for _ in range(50):
            for line in self.callgate.log.read_text(errors="replace").splitlines():
                if "Sandbox phones" in line:  # the banner: "Sandbox phones  sip:+14155550100@HOST:PORT ..."
                    host, _, port = line.rsplit("@", 1)[1].split()[0].rpartition(":")
                    return host, int(port)
            time.sleep(0.1)
        raise RuntimeError(f"no sandbox address in the log:\n{self.callgate.tail()}")

    async def calls(self, rate: float, seconds: float, profile: Path | None = None) -> RateResult:
        import httpx

        n = round(rate * seconds)
        result = RateResult(rate=rate, seconds=seconds, offered=n)
        headers = {"Authorization": self.auth, "Content-Type": "application/x-www-form-urlencoded"}
        limits = httpx.Limits(max_connections=self.args.connections)
        url = self.base + CALLS_PATH.format(sid=self.sid)
        pid = self.callgate.proc.pid
        spy = None
        if profile is not None:  # only samples holding the GIL: Python work, not waits
            spy = subprocess.Popen(
                [self.args.py_spy, "record", "-p", str(pid), "-r", "100", "-d", str(int(seconds)), "--gil",
                 "--nonblocking", "--function", "-f", "raw", "-o", str(profile)],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip
        usage0 = Usage.now(pid, self.receiver.proc.pid)
        async with httpx.AsyncClient(headers=headers, limits=limits, trust_env=False, timeout=60) as client:
            created, t0 = await offer(client, url, n, rate, lambda _i: self.form, self.args.connections)
        sids = {c.sid for c in created if c.status == 201}
        last_post = max(c.scheduled for c in created)
        deadline = time.monotonic() + self.args.drain
        while time.monotonic() < deadline:
            if self.callgate.proc.poll() is not None:
                raise RuntimeError(f"callgate serve died:\n{self.callgate.tail()}")
            if int(receiver_get(self.rbase, "/ended")) >= len(sids):
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.2)  # the last settles of the outbox (their CPU is counted)
        usage = Usage.now(pid, self.receiver.proc.pid) - usage0
        if spy is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                spy.wait(timeout=seconds + 30)
        got = receiver_get(self.rbase, "/results")
        self.bodies = self.bodies or got["bodies"]
        times, self.outbox_seq = await outbox_times(self.store.url, self.outbox_seq)

        ok = [c for c in created if c.status == 201]
        result.created = len(ok)
        api = [(c.answered - c.scheduled) * 1000 for c in ok]
        result.api_p50_ms, result.api_p99_ms = pct(api, 50), pct(api, 99)
        by_call: dict[str, dict[str, float]] = collections.defaultdict(dict)
        finals: dict[str, str] = {}
        latency: list[float] = []
        per_event: dict[str, list[float]] = collections.defaultdict(list)
        for at, call_sid, status, seq in got["callbacks"]:
            if call_sid not in sids:
                continue
            event = EVENT_OF.get(status, "completed")
            by_call[call_sid][event] = at
            if event == "completed":
                finals[call_sid] = status
            moment = times.get((call_sid, seq))
            if moment is None:
                result.unmatched_callbacks += 1
                continue
            latency.append((at - moment) * 1000)
            per_event[event].append((at - moment) * 1000)
        result.callbacks = len(latency)
        result.callback_p50_ms, result.callback_p99_ms = pct(latency, 50), pct(latency, 99)
        result.callback_max_ms = max(latency, default=float("nan"))
        result.callback_p99_by_event = {e: pct(per_event[e], 99) for e in EVENTS}
        statuses = collections.Counter(finals.values())
        result.completed = statuses.pop("completed", 0)
        result.not_completed = dict(statuses)
        result.missing = len(sids) - len(finals)
        done = [by_call[s]["completed"] for s in sids if finals.get(s) == "completed"]
        window = (t0 + 1.0, t0 + seconds)
        result.window_cps = sum(window[0] <= at < window[1] for at in done) / (window[1] - window[0])
        result.lag_s = max(done, default=last_post) - last_post
        initiated = [
            (by_call[c.sid]["initiated"] - c.answered) * 1000 for c in ok if "initiated" in by_call[c.sid]
        ]
        result.initiated_p50_ms, result.initiated_p99_ms = pct(initiated, 50), pct(initiated, 99)
        life = [
            (by_call[c.sid]["completed"] - c.scheduled) * 1000 for c in ok if "completed" in by_call[c.sid]
        ]
        result.call_p50_ms, result.call_p99_ms = pct(life, 50), pct(life, 99)
        result.cpu_cores = usage.cores
        result.main_thread_cores = usage.main_cores
        result.cpu_ms_per_call = 1000 * usage.cpu_s / max(1, len(finals))
        result.receiver_cores = usage.receiver_cores
        result.other_cores = usage.other_cores
        return result

    async def ref_webhook(self, rate: float, seconds: float) -> dict[str, float]:
        """The bare httpx client -> the receiver: 4 x rate callbacks a second, the engine's bodies."""
        import httpx

        bodies = [
            self.bodies[s] for s in ("initiated", "ringing", "in-progress", "completed") if s in self.bodies
        ]
        if not bodies:
            raise RuntimeError("no callback bodies captured from the engine to replay")
        sid_in_bodies = dict(parse_qsl(bodies[0]))["CallSid"]

        def form_for(i: int) -> bytes:
            return bodies[i % len(bodies)].replace(sid_in_bodies, f"{REF_SID}{i:030d}").encode()

        n = round(4 * rate * seconds)
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "User-Agent": "TwilioProxy/1.1",
            "X-Twilio-Signature": "x" * 28,
        }
        usage0 = Usage.now(os.getpid(), self.receiver.proc.pid)
        async with httpx.AsyncClient(headers=headers, trust_env=False, timeout=60) as client:
            sent, t0 = await offer(client, f"{self.rbase}/status", n, 4 * rate, form_for, 10_000)
        usage = Usage.now(os.getpid(), self.receiver.proc.pid) - usage0
        got = receiver_get(self.rbase, "/results")
        arrivals = {sid: at for at, sid, _status, _seq in got["callbacks"] if sid.startswith(REF_SID)}
        latency = [
            (arrivals[f"{REF_SID}{i:030d}"] - c.scheduled) * 1000
            for i, c in enumerate(sent)
            if f"{REF_SID}{i:030d}" in arrivals
        ]
        return {
            "requests": n,
            "delivered": len(latency),
            "failed": sum(c.status != 204 for c in sent),
            "p50_ms": pct(latency, 50),
            "p99_ms": pct(latency, 99),
            "max_ms": max(latency, default=float("nan")),
            "client_cores": usage.cores,
            "receiver_cores": usage.receiver_cores,
        }

    def ref_sip(self, rate: float, seconds: float) -> dict[str, float]:
        """SIPp's UAC -> the same sandbox phone, same rate: what the callee costs `callgate serve`."""
        n = round(rate * seconds)
        stats = self.workdir / f"sipp-{rate:g}.csv"
        host, port = self.sandbox
        pid = self.callgate.proc.pid
        usage0, started = Usage.now(pid), time.perf_counter()
        done = subprocess.run(
            ["sipp", "-sn", "uac", f"{host}:{port}", "-s", PHONE, "-i", "127.0.0.1", "-p", "0",
             "-r", f"{rate:g}", "-m", str(n), "-l", "5000", "-nostdin", "-timeout", f"{seconds + 60:g}s",
             "-timeout_error", "-trace_stat", "-stf", str(stats)],
            cwd=self.workdir, capture_output=True, timeout=seconds + 90,
        )  # fmt: skip
        elapsed = time.perf_counter() - started
        usage = Usage.now(pid) - usage0
        failed = n
        if done.returncode in (0, 1) and stats.exists():
            lines = stats.read_text().splitlines()
            header, last = lines[0].split(";"), lines[-1].split(";")
            failed = int(last[header.index("FailedCall(C)")])
        return {
            "calls": n,
            "failed": failed,
            "cps": (n - failed) / elapsed,
            "cpu_cores": usage.cores,
            "cpu_ms_per_call": 1000 * usage.cpu_s / max(1, n),
        }


# ---------------------------------------------------------------------------------------------------
# Reporting


#: where a GIL sample of `callgate serve` goes: the first rule matching a frame, innermost frame first
#: for each rule in turn (so a store call made while delivering a callback counts as the store's)
CATEGORIES = [
    ("failed imports (httpcore tries `import sniffio` per request)", r"_find_and_load"),
    ("logging", r"logging/__init__"),
    ("store: SqlStore.{}", r"SqlStore\.(\w+)"),
    ("store: SQLAlchemy + aiosqlite", r"sqlalchemy/|aiosqlite/|greenlet"),
    ("webhooks and document fetch: httpx", r"WebhookClient|httpx/|httpcore/|h11/|anyio/"),
    ("RTP media", r"RtpStream|MediaClock|telephony/aio/media|telephony/rtp"),
    ("sandbox (the callee)", r"Sandbox\.|callgate/sandbox/"),
    ("SIP (the caller)", r"SipEndpoint|TransactionLayer|CallLeg|telephony/sip|Dialer"),
    ("HTTP API (creates)", r"starlette/|uvicorn/|dialects/twilio/api"),
    ("engine, other Python", r"callgate/(?!cli)"),
]


def profile_summary(path: Path, top: int) -> str:
    """py-spy's raw stacks summed by category, then the functions holding the most samples."""
    import re

    rules = [(name, re.compile(rx)) for name, rx in CATEGORIES]
    by_category: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        frames = [f.strip() for f in stack.split(";")]
        n = int(count)
        total += n
        category = "event loop (uvloop, asyncio): no Python frame of ours"
        for name, rx in rules:
            match = next((m for f in reversed(frames) if (m := rx.search(f))), None)
            if match is not None:
                category = name.format(*match.groups())
                break
        by_category[category] += n
        for frame in set(frames):
            inclusive[frame] += n
    if not total:
        return "no samples"
    root = str(HERE.parent) + "/"
    lines = [f"{total} samples holding the GIL, by what they were doing:"]
    lines += [f"  {100 * n / total:5.1f}%  {name}" for name, n in by_category.most_common()]
    lines.append("functions (inclusive):")
    lines += [
        f"  {100 * n / total:5.1f}%  {f.replace(root, '')}"
        for f, n in inclusive.most_common(top + 8)
        if not f.startswith(("<module>", "main (", "_run (callgate/cli", "run (uvloop", "Runner.run"))
    ][:top]
    return "\n".join(lines)


def print_results(results: list[RateResult], args: argparse.Namespace) -> None:
    print()
    print(
        f"{'offered':>8}{'calls':>7}{'201':>6}{'done':>6}{'other':>6}{'unfin':>6}{'done/s':>8}{'lag s':>7}"
        f"{'cb p50':>8}{'cb p99':>8}{'cb max':>8}{'init p99':>9}{'call p50':>9}{'call p99':>9}"
        f"{'api p99':>8}{'CPU':>6}{'loop':>6}{'ms/call':>8}{'others':>7}"
    )
    for r in results:
        print(
            f"{r.rate:>8g}{r.offered:>7}{r.created:>6}{r.completed:>6}{sum(r.not_completed.values()):>6}"
            f"{r.missing:>6}{r.window_cps:>8.1f}{r.lag_s:>7.2f}{r.callback_p50_ms:>8.1f}"
            f"{r.callback_p99_ms:>8.1f}{r.callback_max_ms:>8.1f}{r.initiated_p99_ms:>9.1f}"
            f"{r.call_p50_ms:>9.1f}{r.call_p99_ms:>9.1f}{r.api_p99_ms:>8.1f}{r.cpu_cores:>6.2f}"
            f"{r.main_thread_cores:>6.2f}{r.cpu_ms_per_call:>8.1f}{r.other_cores:>7.2f}"
        )
    print(LEGEND)
    for r in results:
        by_event = ", ".join(f"{e} {v:.1f}" for e, v in r.callback_p99_by_event.items())
        print(
            f"  {r.rate:g}/s: callback p99 by event: {by_event}; receiver {r.receiver_cores:.2f} cores"
            + (f"; not completed: {r.not_completed}" if r.not_completed else "")
            + (f"; {r.unmatched_callbacks} callbacks with no outbox row" if r.unmatched_callbacks else "")
        )
    if any(r.ref_webhook for r in results):
        print()
        print("reference: a bare httpx client -> the same receiver, 4 x rate requests/s, the engine's bodies")
        print(
            f"{'rate':>8}{'requests':>9}{'failed':>7}{'p50 ms':>8}{'p99 ms':>8}{'max ms':>8}{'client':>7}"
            f"{'engine cb p99':>14}{'ratio p99':>10}"
        )
        for r in results:
            if (w := r.ref_webhook) is not None:
                print(
                    f"{r.rate:>8g}{w['requests']:>9.0f}{w['failed']:>7.0f}{w['p50_ms']:>8.1f}"
                    f"{w['p99_ms']:>8.1f}{w['max_ms']:>8.1f}{w['client_cores']:>7.2f}{r.callback_p99_ms:>14.1f}"
                    f"{r.callback_p99_ms / w['p99_ms']:>10.1f}"
                )
    if any(r.ref_sip for r in results):
        print()
        print("reference: SIPp uac -> the same sandbox phone of `callgate serve`, same rate")
        print(
            f"{'rate':>8}{'calls':>7}{'failed':>7}{'SIPp cps':>9}{'CPU':>6}{'ms/call':>8}"
            f"{'engine done/s':>14}{'ratio':>7}"
        )
        for r in results:
            if (s := r.ref_sip) is not None:
                print(
                    f"{r.rate:>8g}{s['calls']:>7.0f}{s['failed']:>7.0f}{s['cps']:>9.1f}{s['cpu_cores']:>6.2f}"
                    f"{s['cpu_ms_per_call']:>8.1f}{r.window_cps:>14.1f}{r.window_cps / s['cps']:>7.2f}"
                )
    for r in results:
        if r.profile:
            print(f"\npy-spy record --gil of `callgate serve` at {r.rate:g}/s ({r.seconds:g} s at 100 Hz):")
            print(r.profile)
    print()
    for r in results:
        met = r.window_cps >= 0.95 * r.rate and r.callback_p99_ms < args.target_p99_ms and not r.missing
        print(
            f"{r.rate:g} CPS offered: {r.window_cps:.1f} completed/s, callback p99 "
            f"{r.callback_p99_ms:.1f} ms -> {'meets' if met else 'does NOT meet'} "
            f"'{r.rate:g} CPS sustained with callback p99 < {args.target_p99_ms:g} ms'"
        )


# ---------------------------------------------------------------------------------------------------


async def bench_all(
    args: argparse.Namespace, workdir: Path, servers: list[Server], stores: list[Store]
) -> list[RateResult]:
    rport = free_port()
    receiver = Server(
        "receiver", [sys.executable, __file__, "--receiver", f"127.0.0.1:{rport}"], workdir / "receiver.log"
    )
    servers.append(receiver)
    rbase = f"http://127.0.0.1:{rport}"
    wait_ready(receiver, rbase + "/healthz")
    bench = Bench(args, workdir, rbase, receiver)
    results = []
    for i, rate in enumerate(args.rate):
        bench.start(f"rate-{rate:g}", servers, stores)
        warm = await bench.calls(10, 2)  # imports, first connections, the bodies the reference replays
        if warm.missing or warm.completed != warm.offered:
            raise RuntimeError(f"warm-up calls did not all complete: {warm}\n{bench.callgate.tail()}")
        ref_s = min(args.seconds, args.ref_seconds)
        ref_webhook = ref_sip = None
        if "sip" in args.reference:
            print(f"rate {rate:g}/s: SIPp -> the sandbox, {ref_s:g} s ...", flush=True)
            ref_sip = bench.ref_sip(rate, ref_s)
        if "webhook" in args.reference:
            print(f"rate {rate:g}/s: httpx -> the receiver, {ref_s:g} s ...", flush=True)
            ref_webhook = await bench.ref_webhook(rate, ref_s)
        profile = workdir / f"profile-{rate:g}.txt" if args.profile and i == len(args.rate) - 1 else None
        print(f"rate {rate:g}/s: {round(rate * args.seconds)} calls through the engine ...", flush=True)
        result = await bench.calls(rate, args.seconds, profile)
        result.ref_webhook, result.ref_sip = ref_webhook, ref_sip
        results.append(result)
        if profile is not None and profile.exists():
            if args.keep_profile:
                shutil.copy(profile, args.keep_profile)
            result.profile = profile_summary(profile, args.top)
        # The calls still queued (a rate beyond the engine's) are dropped with their server and store.
        servers.remove(bench.callgate)
        bench.callgate.stop()
        stores.remove(bench.store)
        bench.store.drop()
        receiver_get(rbase, "/results")  # forget callbacks that came in after the figures were taken
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rate", type=float, nargs="+", default=[20.0, 50.0, 100.0], help="offered calls/s")
    parser.add_argument("--seconds", type=float, default=20.0, help="seconds of calls per rate (20)")
    parser.add_argument("--drain", type=float, default=30.0, help="most seconds to wait for the last calls")
    parser.add_argument("--ref-seconds", type=float, default=10.0, help="seconds of each reference (10)")
    parser.add_argument(
        "--document",
        choices=["url", "inline"],
        default="url",
        help="the call's document: a Url on the receiver (default) or inline Twiml",
    )
    parser.add_argument("--reference", nargs="*", choices=["webhook", "sip"], default=["webhook", "sip"])
    parser.add_argument("--store", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument(
        "--pg-url",
        default="postgresql://postgres@127.0.0.1:5432",
        help="PostgreSQL server (no database); a fresh database is created and dropped",
    )
    parser.add_argument("--connections", type=int, default=64, help="most create requests in flight (64)")
    parser.add_argument("--target-p99-ms", type=float, default=50.0)
    parser.add_argument(
        "--profile", action="store_true", help="py-spy record `callgate serve` at the last rate"
    )
    parser.add_argument("--keep-profile", help="copy py-spy's raw output here")
    parser.add_argument("--top", type=int, default=25, help="functions listed from the profile (25)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (logs, store)")
    parser.add_argument("--py-spy", default=shutil.which("py-spy") or str(BIN / "py-spy"))
    parser.add_argument("--callgate", default=str(BIN / "callgate"))
    parser.add_argument("--receiver", help=argparse.SUPPRESS)  # internal: run the receiver on HOST:PORT
    args = parser.parse_args(argv)
    if args.receiver:
        return serve_receiver(args.receiver)
    if "sip" in args.reference and shutil.which("sipp") is None:
        parser.error("the sip reference needs sipp (Debian package sip-tester); or --reference webhook")
    if args.profile and not Path(args.py_spy).exists() and not shutil.which(args.py_spy):
        parser.error("--profile needs py-spy (pip install py-spy), or --py-spy PATH")

    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda signum, _frame: sys.exit(128 + signum))
    print(
        f"engine end-to-end: rates {' '.join(f'{r:g}' for r in args.rate)} calls/s, {args.seconds:g} s each, "
        f"document {args.document}, store {args.store}; {os.cpu_count()} CPUs shared by callgate, the "
        f"receiver, SIPp and this client; Python {platform.python_version()}; load average "
        f"{' '.join(f'{v:.2f}' for v in os.getloadavg())} at the start",
        flush=True,
    )
    workdir = Path(tempfile.mkdtemp(prefix="callgate-e2e-"))
    servers: list[Server] = []
    stores: list[Store] = []
    try:
        import uvloop

        results = uvloop.run(bench_all(args, workdir, servers, stores))
    finally:
        for server in reversed(servers):
            with contextlib.suppress(Exception):
                server.stop()
        for store in stores:
            try:
                store.drop()
            except Exception as exc:  # report and go on cleaning up
                print(f"could not drop {store.url}: {exc}", file=sys.stderr)
        if args.keep:
            print(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    print_results(results, args)
    # Unfinished calls are a measurement (a rate beyond the engine's); failures are not.
    failed = any(r.created != r.offered or r.not_completed or r.unmatched_callbacks for r in results)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
