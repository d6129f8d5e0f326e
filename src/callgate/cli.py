"""The `callgate` command: serve, worker, sandbox, accounts."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from callgate import __version__
from callgate.config import Settings
from callgate.core.call import Account
from callgate.dialects.twilio.face import TWILIO
from callgate.engine.accounts import create_account
from callgate.runtime import raise_open_files_limit, settle_heap, tune_gc
from callgate.store import SqlStore


def account_json(account: Account) -> dict[str, Any]:
    """The account as `callgate accounts create --json` prints it: one account, three faces."""
    return {
        "id": str(account.id),
        "name": account.name,
        "twilio": {"account_sid": TWILIO.render_account(account.id), "auth_token": account.auth_token},
        "signalwire": {
            "project_id": str(account.id),
            "api_token": account.signalwire_token,
            "signing_key": account.webhook_signing_key,
        },
        "bandwidth": {
            "account_id": account.bandwidth_account_id,
            "username": account.bandwidth_username,
            "password": account.bandwidth_password,
        },
    }


def base_urls(settings: Settings) -> dict[str, str]:
    base = settings.base_url
    return {"twilio": base, "signalwire": f"{base}/api/laml", "bandwidth": f"{base}/api/v2"}


async def _create_account(db: str, name: str) -> Account:
    store = SqlStore(db)
    try:
        await store.open()
        return await create_account(store, name)
    finally:
        await store.close()


async def _list_accounts(db: str) -> list[Account]:
    store = SqlStore(db)
    try:
        await store.open()
        return await store.list_accounts()
    finally:
        await store.close()


def _print_banner(settings: Settings, created: Account | None, accounts: list[Account]) -> None:
    urls = base_urls(settings)
    out = sys.stdout
    out.write(f"Callgate {__version__} on {settings.base_url} (store: {_redact(settings.db)})\n")
    if created is not None:
        info = account_json(created)
        out.write("Created the first account. Keep these credentials; they are shown only now.\n")
        out.write(
            f"  Twilio      AccountSid {info['twilio']['account_sid']}  AuthToken {created.auth_token}\n"
        )
        out.write(
            f"  SignalWire  ProjectID  {created.id}  API token {created.signalwire_token}"
            f"  Signing Key {created.webhook_signing_key}\n"
        )
        out.write(
            f"  Bandwidth   account    {created.bandwidth_account_id}  user {created.bandwidth_username}"
            f"  password {created.bandwidth_password}\n"
        )
    else:
        out.write(f"{len(accounts)} account(s) in the store; `callgate accounts list --json` shows them.\n")
    out.write(f"  Twilio base URL      {urls['twilio']}\n")
    out.write(f"  SignalWire base URL  {urls['signalwire']}\n")
    out.write(f"  Bandwidth base URL   {urls['bandwidth']}\n")
    out.write(f"  OpenAPI              {settings.base_url}/openapi.json\n")
    out.flush()


def _redact(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def _uvicorn_server(config: Any) -> Any:
    import uvicorn

    class Server(uvicorn.Server):
        """uvicorn re-raises SIGTERM after a graceful shutdown; a clean stop should exit 0."""

        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, self.handle_exit, sig, None)
            try:
                yield
            finally:
                for sig in (signal.SIGINT, signal.SIGTERM):
                    loop.remove_signal_handler(sig)

    return Server(config)


async def _serve(settings: Settings, phones: Any = None) -> None:
    import uvicorn

    from callgate.app import create_app
    from callgate.http_protocol import JoinedWritesProtocol

    # An API node (no engine here) writes its new calls from a process of their own (SQLite).
    store = SqlStore(settings.db, insert_process=not settings.worker)
    await store.open()
    try:
        accounts = await store.list_accounts()
        created = None
        if not accounts:
            created = await create_account(store, "default")
            accounts = [created]
        host, port = settings.http_host_port
        sandbox = await _start_sandbox(settings, phones)
        app = create_app(
            settings,
            store=store,
            engine=settings.worker,
            sandbox=None if sandbox is None else sandbox.address,
        )
        config = uvicorn.Config(
            app,
            host=host,
            port=port,
            http=JoinedWritesProtocol,
            log_level=settings.log_level,
            access_log=False,
            server_header=False,
            ssl_certfile=settings.tls_cert,
            ssl_keyfile=settings.tls_key,
        )
        server = _uvicorn_server(config)
        _print_banner(settings, created, accounts)
        if sandbox is not None:
            host, port = sandbox.address
            sys.stdout.write(f"  Sandbox phones       sip:+14155550100@{host}:{port} (docs/SANDBOX.md)\n")
            sys.stdout.flush()
        settle_heap()
        try:
            await server.serve()
        finally:
            await _close_sandbox(sandbox)
    finally:
        await store.close()


async def _worker(settings: Settings, phones: Any) -> None:
    """A worker node: runs queued calls and delivers callbacks; no HTTP API (`callgate serve` with
    CALLGATE_WORKER=false serves the API on its own)."""
    from callgate.app import faces_for, start_engine
    from callgate.core.pricing import RateTable
    from callgate.engine.services import Services

    store = SqlStore(settings.db)
    await store.open()
    sandbox = await _start_sandbox(settings, phones)
    try:
        faces = faces_for(settings)
        services = Services.over(store, faces, RateTable(settings.rates), settings.sip_trunks())
        running = await start_engine(settings, services, faces, None if sandbox is None else sandbox.address)
        print(
            f"Callgate {__version__} worker {running.worker.owner} running calls from {_redact(settings.db)}",
            flush=True,
        )
        settle_heap()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        try:
            await stop.wait()
        finally:
            await running.stop()
    finally:
        await _close_sandbox(sandbox)
        await store.close()


async def _start_sandbox(settings: Settings, phones: Any) -> Any:
    """The sandbox on `settings.sandbox_sip`, in a process of its own unless `sandbox_process` is off
    (None if turned off, or if the address is taken: a warning, not a failure, so a second `callgate
    serve` on one machine still serves its API)."""
    address = settings.sandbox_sip
    if not address:
        return None
    if settings.sandbox_process:
        from callgate.sandbox.process import SandboxProcess

        return await SandboxProcess.start(address)
    from callgate.config import split_host_port
    from callgate.sandbox.uas import Sandbox
    from callgate.telephony.aio.clock import MediaClock

    host, port = split_host_port(address, 5080)
    recordings = _recordings_dir(settings.sandbox_recordings)
    try:
        return await Sandbox.start(host, port, phones=phones, recordings=recordings, media_clock=MediaClock())
    except OSError as exc:
        logging.getLogger("callgate.sandbox").warning("sandbox not started on %s: %s", address, exc)
        return None


async def _close_sandbox(sandbox: Any) -> None:
    """Stop the sandbox: in this process at once; a child process is waited for (5 s at most)."""
    if hasattr(sandbox, "wait_closed"):
        await sandbox.wait_closed()
    elif sandbox is not None:
        sandbox.close()


def _recordings_dir(path: str | None) -> Path | None:
    """The sandbox's recordings folder (made if missing), or None."""
    if not path:
        return None
    folder = Path(path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


async def _sandbox(
    address: str, phones: Any, recordings: str | None = None, with_parent: bool = False
) -> None:
    """`callgate sandbox`; `with_parent`: started by another callgate process, it also stops when
    that one goes (its standard input closes)."""
    from callgate.config import split_host_port
    from callgate.sandbox.process import wait_for_parent
    from callgate.sandbox.uas import Sandbox
    from callgate.telephony.aio.clock import MediaClock

    host, port = split_host_port(address, 5080)
    sandbox = await Sandbox.start(
        host, port, phones=phones, recordings=_recordings_dir(recordings), media_clock=MediaClock()
    )
    bound_host, bound_port = sandbox.address
    print(f"Callgate sandbox phones on sip:{bound_host}:{bound_port} (docs/SANDBOX.md)", flush=True)
    settle_heap()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    waits: set[asyncio.Future[Any]] = {asyncio.ensure_future(stop.wait())}
    if with_parent:
        waits.add(asyncio.ensure_future(wait_for_parent()))
    try:
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiting in waits:
            waiting.cancel()
        sandbox.close()


def _event_loop_runner() -> Any:
    """uvloop where it is installed (it comes with uvicorn[standard]), else asyncio's own loop."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency on every supported platform
        return asyncio.run
    return uvloop.run


def _settings(args: argparse.Namespace) -> Settings:
    overrides: dict[str, Any] = {}
    if getattr(args, "http", None):
        overrides["http"] = args.http
    if getattr(args, "db", None):
        overrides["db"] = args.db
    for name in ("tls_cert", "tls_key"):
        if getattr(args, name, None):
            overrides[name] = getattr(args, name)
    return Settings(**overrides)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="callgate", description="Self-hostable programmable voice.")
    parser.add_argument("--version", action="version", version=f"callgate {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the HTTP API (SQLite by default)")
    serve.add_argument("--http", help="HOST:PORT to listen on (env CALLGATE_HTTP, default 127.0.0.1:8080)")
    serve.add_argument("--db", help="database URL (env CALLGATE_DB, default sqlite:///./callgate.db)")
    serve.add_argument("--tls-cert", help="PEM certificate: serve HTTPS (env CALLGATE_TLS_CERT)")
    serve.add_argument("--tls-key", help="PEM private key for --tls-cert (env CALLGATE_TLS_KEY)")

    worker = sub.add_parser("worker", help="run queued calls and deliver callbacks (no HTTP API)")
    worker.add_argument(
        "--db", help="database URL (env CALLGATE_DB); PostgreSQL to share it with other nodes"
    )

    sandbox = sub.add_parser("sandbox", help="run only the sandbox phone network (a SIP endpoint)")
    sandbox.add_argument(
        "--sip", default=None, help="HOST:PORT (env CALLGATE_SANDBOX_SIP, default 127.0.0.1:5080)"
    )
    sandbox.add_argument(
        "--phones", default=None, help="TOML phone book of scripted phones (env CALLGATE_SANDBOX_PHONES)"
    )
    sandbox.add_argument(
        "--recordings",
        default=None,
        help="folder where each call's audio heard by the sandbox is kept as <Call-ID>.wav "
        "(env CALLGATE_SANDBOX_RECORDINGS)",
    )
    # started by `callgate serve`/`worker`: also stop when its standard input closes
    sandbox.add_argument("--with-parent", action="store_true", help=argparse.SUPPRESS)

    accounts = sub.add_parser("accounts", help="manage accounts")
    acc_sub = accounts.add_subparsers(dest="accounts_command", required=True)
    create = acc_sub.add_parser("create", help="create an account with fresh credentials")
    create.add_argument("--name", default="default")
    create.add_argument("--db", help="database URL (env CALLGATE_DB)")
    create.add_argument("--json", action="store_true", help="print the account as JSON")
    listing = acc_sub.add_parser("list", help="list accounts with their credentials")
    listing.add_argument("--db", help="database URL (env CALLGATE_DB)")
    listing.add_argument("--json", action="store_true", help="print a JSON array")

    args = parser.parse_args(argv)
    try:
        return _run(parser, args)
    except (ValueError, OSError, SQLAlchemyError) as exc:
        # A bad URL, an unreachable database: one clear line, no traceback.
        print(f"callgate: {exc}", file=sys.stderr)
        return 1


def _run(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    settings = _settings(args)
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("alembic").setLevel(logging.WARNING)
    # One line per webhook and document request is the request log's job (the call's Events), not the log's.
    logging.getLogger("httpx").setLevel(logging.WARNING)

    if args.command in ("sandbox", "serve", "worker"):
        tune_gc()
        raise_open_files_limit()  # two sockets a call
        from callgate.sandbox.plan import load_phone_book

        # A bad phone book stops the start with one line naming the file and the step (a ValueError).
        book_path = getattr(args, "phones", None) or settings.sandbox_phones
        phones = load_phone_book(book_path) if book_path else None
    if args.command == "sandbox":
        recordings = getattr(args, "recordings", None) or settings.sandbox_recordings
        _event_loop_runner()(
            _sandbox(
                args.sip or settings.sandbox_sip or "127.0.0.1:5080", phones, recordings, args.with_parent
            )
        )
        return 0
    if args.command == "worker":
        try:
            _event_loop_runner()(_worker(settings, phones))
        except KeyboardInterrupt:
            pass
        return 0
    if args.command == "serve":
        try:
            _event_loop_runner()(_serve(settings, phones))
        except KeyboardInterrupt:
            pass
        return 0
    if args.accounts_command == "create":
        account = asyncio.run(_create_account(settings.db, args.name))
        if args.json:
            print(json.dumps(account_json(account)))
        else:
            info = account_json(account)
            print(
                f"{account.name}: Twilio {info['twilio']['account_sid']} / SignalWire {account.id}"
                f" / Bandwidth {account.bandwidth_account_id}"
            )
        return 0
    if args.accounts_command == "list":
        found = asyncio.run(_list_accounts(settings.db))
        if args.json:
            print(json.dumps([account_json(a) for a in found]))
        else:
            for a in found:
                print(f"{a.id}  {TWILIO.render_account(a.id)}  {a.name}")
        return 0
    parser.error("unknown command")
    return 2
