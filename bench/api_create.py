"""Create-call throughput and latency: Callgate against a bare Starlette endpoint, in the same run.

    .venv/bin/python bench/api_create.py                          # SQLite, 2 s warm-up + 10 s per target
    .venv/bin/python bench/api_create.py --store both             # SQLite and PostgreSQL
    .venv/bin/python bench/api_create.py --duration 30 --connections 64 --repeat 3

What it does:

1. creates a fresh store (a temporary SQLite file; for PostgreSQL a fresh database created with `psql`
   and dropped at the end), creates an account in it with `callgate accounts create --json`, and starts
   `callgate serve` on a free loopback port as an API node (CALLGATE_WORKER=false: the calls it stores
   stay queued; with --with-worker the same process also runs them, ringing the sandbox at the
   account's 10 calls/s, which is what bench/engine_e2e.py measures); waits for /healthz;
2. sends one real create-call request and keeps Callgate's 201 body; starts bench/bare_endpoint.py on
   another free port with that body, so both answer the same JSON;
3. drives each target, one after the other, with the same load generator (wrk, one POST per request
   with a realistic form body and an Authorization header), the same connections, threads and
   duration: first a warm-up run, then the measured run;
4. prints requests/s, p50 and p99 latency and the count of non-2xx responses per target, and the ratio
   Callgate / bare; checks that every Callgate response was a 201 and that the calls stored during the
   measured run match the requests wrk completed (the store may hold up to `connections` more: requests
   in flight when wrk stops are completed by the server but not counted by wrk).

Servers are stopped and temporary stores removed at the end, on error too. Needs `wrk` (Debian package
`wrk`); for `--store postgresql|both`, `psql` and a PostgreSQL server reachable at --pg-url.
Exit status: 0 if every check passed and, with --check-target, Callgate reached --target of the bare
throughput; 1 otherwise.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import platform
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent
CALLS_PATH = "/2010-04-01/Accounts/{sid}/Calls.json"

FORM = [
    ("To", "+14155550100"),
    ("From", "+14155550199"),
    ("Url", "https://example.com/voice.xml"),
    ("StatusCallback", "https://example.com/status"),
    ("StatusCallbackEvent", "initiated"),
    ("StatusCallbackEvent", "completed"),
]

# One POST per request; response() counts status codes per thread, done() prints one JSON line.
WRK_LUA = r"""
wrk.method = "POST"
wrk.body = %(body)s
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = %(auth)s

local threads = {}
function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  statuses = {}
end

%(response)s

function done(summary, latency, requests)
  local counts = {}
  for _, t in ipairs(threads) do
    local s = t:get("statuses")
    if s then
      for code, n in pairs(s) do counts[tostring(code)] = (counts[tostring(code)] or 0) + n end
    end
  end
  local parts = {}
  for code, n in pairs(counts) do table.insert(parts, string.format('"%%s": %%d', code, n)) end
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests": %%d, "duration_us": %%d, "bytes": %%d, "p50_us": %%d, "p90_us": %%d, '
    .. '"p99_us": %%d, "max_us": %%d, "mean_us": %%.1f, "errors": {"connect": %%d, "read": %%d, '
    .. '"write": %%d, "status": %%d, "timeout": %%d}, "statuses": {%%s}}\n',
    summary.requests, summary.duration, summary.bytes,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean,
    e.connect, e.read, e.write, e.status, e.timeout, table.concat(parts, ", ")))
end
"""

RESPONSE_LUA = """function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end"""


def lua_string(value: str) -> str:
    return json.dumps(value)  # a JSON string of ASCII text is a valid Lua string literal


@dataclass
class Result:
    target: str
    store: str
    requests: int
    duration_s: float
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    non_2xx: int
    socket_errors: dict[str, int]
    statuses: dict[str, int]
    stored_delta: int | None = None
    checks: list[str] = field(default_factory=list)
    ok: bool = True


class Server:
    """A server subprocess in its own session, logged to a file, stopped with SIGINT then SIGKILL."""

    def __init__(self, name: str, argv: list[str], log: Path, env: dict[str, str] | None = None) -> None:
        self.name, self.argv, self.log = name, argv, log
        self._fh = open(log, "wb")  # closed in stop()
        self.proc = subprocess.Popen(
            argv, stdout=self._fh, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self._fh.close()

    def tail(self, n: int = 20) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])
        return ""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(server: Server, url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            raise RuntimeError(f"{server.name} exited with {server.proc.returncode}:\n{server.tail()}")
        try:
            with urllib.request.urlopen(url, timeout=1) as resp:
                if resp.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{server.name} not ready at {url} after {timeout:.0f} s:\n{server.tail()}")


def run(argv: list[str], **kw: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, check=True, capture_output=True, text=True, **kw)


class Store:
    """A fresh store for one Callgate: a temporary SQLite file or a fresh PostgreSQL database."""

    def __init__(self, kind: str, workdir: Path, pg_url: str) -> None:
        self.kind = kind
        if kind == "sqlite":
            self.path = workdir / "callgate.db"
            self.url = f"sqlite:///{self.path}"
        else:
            self.admin = pg_url.rstrip("/")
            self.dbname = f"callgate_bench_{os.getpid()}_{int(time.time())}"
            self.url = f"{self.admin}/{self.dbname}"
            self.created = False

    def create(self) -> None:
        if self.kind == "postgresql":
            run(
                [
                    "psql",
                    "-X",
                    "-q",
                    "-v",
                    "ON_ERROR_STOP=1",
                    "-d",
                    f"{self.admin}/postgres",
                    "-c",
                    f'CREATE DATABASE "{self.dbname}"',
                ]
            )
            self.created = True

    def count_calls(self) -> int:
        if self.kind == "sqlite":
            with contextlib.closing(sqlite3.connect(self.path, timeout=30)) as db:
                return int(db.execute("SELECT count(*) FROM calls").fetchone()[0])
        out = run(["psql", "-X", "-tA", "-d", self.url, "-c", "SELECT count(*) FROM calls"]).stdout
        return int(out.strip())

    def drop(self) -> None:
        if self.kind == "postgresql" and self.created:
            run(
                [
                    "psql",
                    "-X",
                    "-q",
                    "-d",
                    f"{self.admin}/postgres",
                    "-c",
                    f'DROP DATABASE IF EXISTS "{self.dbname}" WITH (FORCE)',
                ]
            )
            self.created = False


def wrk(url: str, script: Path, args: argparse.Namespace, duration: float) -> dict[str, Any]:
    argv = [
        args.wrk,
        f"-t{args.threads}",
        f"-c{args.connections}",
        f"-d{duration:g}s",
        "--latency",
        "--timeout",
        "10s",
        "-s",
        str(script),
        url,
    ]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=duration + 60)
    if proc.returncode != 0:
        raise RuntimeError(f"wrk failed ({proc.returncode}): {proc.stderr}{proc.stdout}")
    for line in proc.stdout.splitlines():
        if line.startswith("WRKJSON "):
            data: dict[str, Any] = json.loads(line[len("WRKJSON ") :])
            data["text"] = proc.stdout
            return data
    raise RuntimeError(f"no summary in wrk output:\n{proc.stdout}")


def measure(
    target: str, store_kind: str, url: str, script: Path, args: argparse.Namespace, store: Store | None
) -> Result:
    if args.warmup > 0:
        wrk(url, script, args, args.warmup)
    time.sleep(args.settle)
    before = store.count_calls() if store else None
    data = wrk(url, script, args, args.duration)
    time.sleep(args.settle)  # let the requests in flight when wrk stopped finish
    after = store.count_calls() if store else None
    duration_s = data["duration_us"] / 1e6
    errors = {k: v for k, v in data["errors"].items() if k != "status"}
    result = Result(
        target=target,
        store=store_kind,
        requests=data["requests"],
        duration_s=round(duration_s, 3),
        rps=data["requests"] / duration_s,
        p50_ms=data["p50_us"] / 1000,
        p90_ms=data["p90_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        max_ms=data["max_us"] / 1000,
        non_2xx=data["errors"]["status"],
        socket_errors=errors,
        statuses=data["statuses"],
    )
    if args.verbose:
        print(data["text"])
    if args.status_check:
        counted = sum(result.statuses.values())
        if set(result.statuses) != {"201"}:
            result.ok = False
            result.checks.append(f"statuses {result.statuses} (expected only 201)")
        else:
            result.checks.append(f"all {counted} responses 201")
    elif result.non_2xx:
        result.ok = False
        result.checks.append(f"{result.non_2xx} responses >= 400")
    if any(errors.values()):
        result.ok = False
        result.checks.append(f"socket errors {errors}")
    if store is not None and before is not None and after is not None:
        result.stored_delta = after - before
        extra = result.stored_delta - result.requests
        if 0 <= extra <= args.connections:
            result.checks.append(
                f"stored {result.stored_delta} calls for {result.requests} completed requests (+{extra} in "
                f"flight at the stop, allowed 0..{args.connections})"
            )
        else:
            result.ok = False
            result.checks.append(
                f"MISMATCH: stored {result.stored_delta} calls for {result.requests} completed requests"
            )
    return result


def capture_call(base: str, sid: str, auth: str, body: bytes) -> bytes:
    req = urllib.request.Request(
        base + CALLS_PATH.format(sid=sid),
        data=body,
        method="POST",
        headers={"Authorization": auth, "Content-Type": "application/x-www-form-urlencoded"},
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        if resp.status != 201:
            raise RuntimeError(f"create call answered {resp.status}")
        return bytes(resp.read())


def bench_store(
    store_kind: str, args: argparse.Namespace, workdir: Path, servers: list[Server], stores: list[Store]
) -> list[Result]:
    sdir = workdir / store_kind
    sdir.mkdir()
    store = Store(store_kind, sdir, args.pg_url)
    stores.append(store)
    store.create()
    account = json.loads(run([args.callgate, "accounts", "create", "--db", store.url, "--json"]).stdout)
    sid, token = account["twilio"]["account_sid"], account["twilio"]["auth_token"]
    auth = "Basic " + base64.b64encode(f"{sid}:{token}".encode()).decode()
    body = urllib.parse.urlencode(FORM)

    cg_port = free_port()
    callgate = Server(
        f"callgate ({store_kind})",
        [args.callgate, "serve", "--http", f"127.0.0.1:{cg_port}", "--db", store.url],
        sdir / "callgate.log",
        env={**os.environ, "CALLGATE_WORKER": "true" if args.with_worker else "false"},
    )
    servers.append(callgate)
    cg_base = f"http://127.0.0.1:{cg_port}"
    wait_ready(callgate, cg_base + "/healthz")

    call_file = sdir / "call.json"
    call_file.write_bytes(capture_call(cg_base, sid, auth, body.encode()))
    bare_port = free_port()
    bare = Server(
        "bare",
        [sys.executable, str(HERE / "bare_endpoint.py"), "--http", f"127.0.0.1:{bare_port}"],
        sdir / "bare.log",
        env={**os.environ, "CALLGATE_BENCH_BODY": str(call_file)},
    )
    servers.append(bare)
    bare_base = f"http://127.0.0.1:{bare_port}"
    wait_ready(bare, bare_base + "/healthz")

    script = sdir / "create_call.lua"
    script.write_text(
        WRK_LUA
        % {
            "body": lua_string(body),
            "auth": lua_string(auth),
            "response": RESPONSE_LUA if args.status_check else "",
        }
    )
    path = CALLS_PATH.format(sid=sid)
    results: list[Result] = []
    for _ in range(args.repeat):
        for target in args.order.split(","):
            if target == "bare":
                results.append(measure("bare", store_kind, bare_base + path, script, args, None))
            else:
                results.append(measure("callgate", store_kind, cg_base + path, script, args, store))
    for server in (callgate, bare):
        if server.proc.poll() is not None:
            raise RuntimeError(f"{server.name} died during the run:\n{server.tail()}")
    return results


def print_results(results: list[Result], args: argparse.Namespace) -> bool:
    print()
    print(f"{'target':<22} {'requests/s':>11} {'p50 ms':>8} {'p99 ms':>8} {'non-2xx':>8} {'requests':>9}")
    for r in results:
        name = f"{r.target} ({r.store})" if r.target == "callgate" else "bare"
        print(f"{name:<22} {r.rps:>11.1f} {r.p50_ms:>8.2f} {r.p99_ms:>8.2f} {r.non_2xx:>8} {r.requests:>9}")
    print()
    ok = all(r.ok for r in results)
    for store_kind in dict.fromkeys(r.store for r in results):
        bare = [r.rps for r in results if r.store == store_kind and r.target == "bare"]
        cg = [r.rps for r in results if r.store == store_kind and r.target == "callgate"]
        ratio = (sum(cg) / len(cg)) / (sum(bare) / len(bare))
        verdict = "meets" if ratio >= args.target else "BELOW"
        print(
            f"ratio callgate ({store_kind}) / bare throughput: {ratio:.2f}  "
            f"({verdict} the target of {args.target:.2f})"
        )
        if args.check_target and ratio < args.target:
            ok = False
    for r in results:
        for check in r.checks:
            print(f"  check {r.target} ({r.store}): {check}")
    return ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=float, default=10.0, help="measured seconds per target (10)")
    parser.add_argument("--warmup", type=float, default=2.0, help="warm-up seconds per target (2)")
    parser.add_argument("--connections", "-c", type=int, default=32, help="concurrent connections (32)")
    parser.add_argument("--threads", "-t", type=int, default=1, help="wrk threads (1)")
    parser.add_argument("--store", choices=["sqlite", "postgresql", "both"], default="sqlite")
    parser.add_argument(
        "--pg-url",
        default="postgresql://postgres@127.0.0.1:5432",
        help="PostgreSQL server (no database); a fresh database is created and dropped",
    )
    parser.add_argument(
        "--with-worker",
        action="store_true",
        help="`callgate serve` also runs the calls it stores (default: an API node, CALLGATE_WORKER=false)",
    )
    parser.add_argument("--order", default="bare,callgate", help="order of the targets (bare,callgate)")
    parser.add_argument("--repeat", type=int, default=1, help="measure each target this many times")
    parser.add_argument("--settle", type=float, default=0.5, help="pause between runs, seconds (0.5)")
    parser.add_argument(
        "--no-status-check",
        dest="status_check",
        action="store_false",
        help="do not count status codes in wrk's Lua (slightly cheaper for wrk)",
    )
    parser.add_argument("--target", type=float, default=0.5, help="target ratio callgate/bare (0.5)")
    parser.add_argument("--check-target", action="store_true", help="exit 1 if the ratio is below --target")
    parser.add_argument("--json", dest="json_out", help="also write the results to this JSON file")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (logs, stores)")
    parser.add_argument("--verbose", "-v", action="store_true", help="print wrk's own output")
    parser.add_argument("--wrk", default=shutil.which("wrk") or "wrk")
    parser.add_argument(
        "--callgate",
        default=str(BIN / "callgate")
        if (BIN / "callgate").exists()
        else (shutil.which("callgate") or "callgate"),
    )
    args = parser.parse_args(argv)
    if sorted(args.order.split(",")) != ["bare", "callgate"]:
        parser.error("--order is bare,callgate or callgate,bare")
    if not shutil.which(args.wrk):
        print("wrk is not installed: apt-get install -y wrk (Debian package `wrk`)", file=sys.stderr)
        return 2

    # SIGTERM/SIGHUP -> SystemExit, so the finally clause below stops the servers.
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda signum, _frame: sys.exit(128 + signum))

    kinds = ["sqlite", "postgresql"] if args.store == "both" else [args.store]
    print(
        f"create-call benchmark: wrk -t{args.threads} -c{args.connections}, {args.warmup:g} s warm-up + "
        f"{args.duration:g} s per target, order {args.order}, repeat {args.repeat}; "
        f"{os.cpu_count()} CPUs (shared by wrk and the servers), Python {platform.python_version()}"
    )
    workdir = Path(tempfile.mkdtemp(prefix="callgate-bench-"))
    servers: list[Server] = []
    stores: list[Store] = []
    results: list[Result] = []
    try:
        for kind in kinds:
            results += bench_store(kind, args, workdir, servers, stores)
            while servers:  # one store at a time: stop this pair before the next
                servers.pop().stop()
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
    ok = print_results(results, args)
    if args.json_out:
        Path(args.json_out).write_text(
            json.dumps(
                {
                    "argv": sys.argv,
                    "cpus": os.cpu_count(),
                    "python": platform.python_version(),
                    "results": [asdict(r) for r in results],
                },
                indent=2,
            )
            + "\n"
        )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
