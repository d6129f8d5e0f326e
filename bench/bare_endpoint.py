"""The baseline for bench/api_create.py: a bare Starlette endpoint that answers a create-call request.

One POST route at Callgate's path, `/2010-04-01/Accounts/{AccountSid}/Calls.json`. It reads the request
body and answers 201 with a fixed JSON call: the body of one real Callgate response, captured by
api_create.py at the start of the run and handed over in a file (`--body-file`, or the environment
variable CALLGATE_BENCH_BODY). No authentication, no validation, no store: what is left is uvicorn,
Starlette routing, reading the body and serialising the JSON, i.e. the ceiling for Callgate's handler.

It is served exactly as `callgate serve` serves Callgate (see `_serve` in src/callgate/cli.py): one
process, `uvicorn.Config(app, host=..., port=..., http=JoinedWritesProtocol, log_level="info",
access_log=False, server_header=False)`, Callgate's HTTP protocol (uvicorn's httptools protocol
writing each response's head and body together), awaited on uvloop (`uvloop.run(server.serve())`)
as `callgate serve` does. `--stock-http` serves it with uvicorn's own httptools protocol instead.

    python bench/bare_endpoint.py --http 127.0.0.1:9000 --body-file call.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from callgate.http_protocol import JoinedWritesProtocol

CALLS_PATH = "/2010-04-01/Accounts/{AccountSid}/Calls.json"


def create_app(call: dict[str, Any]) -> Starlette:
    async def create_call(request: Request) -> Response:
        await request.body()
        return JSONResponse(call, status_code=201)

    async def health(_request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    return Starlette(routes=[Route(CALLS_PATH, create_call, methods=["POST"]), Route("/healthz", health)])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--http", default="127.0.0.1:8090", help="HOST:PORT to listen on")
    parser.add_argument(
        "--body-file",
        default=os.environ.get("CALLGATE_BENCH_BODY"),
        help="JSON file with the call to answer (default: env CALLGATE_BENCH_BODY)",
    )
    parser.add_argument(
        "--stock-http", action="store_true", help="uvicorn's own httptools protocol, not Callgate's"
    )
    args = parser.parse_args(argv)
    if not args.body_file:
        parser.error("--body-file (or CALLGATE_BENCH_BODY) is required")
    with open(args.body_file, encoding="utf-8") as fh:
        call = json.load(fh)
    host, _, port = args.http.rpartition(":")
    config = uvicorn.Config(
        create_app(call),
        host=host or "127.0.0.1",
        port=int(port),
        http="httptools" if args.stock_http else JoinedWritesProtocol,
        log_level="info",
        access_log=False,
        server_header=False,
    )
    # The same event loop as `callgate serve`: uvloop where installed, else asyncio's own.
    try:
        import uvloop

        run = uvloop.run
    except ImportError:
        run = asyncio.run
    run(uvicorn.Server(config).serve())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
