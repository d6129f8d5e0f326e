"""Waiting for a `callgate serve` process to answer GET /healthz: the one copy every suite uses.

Standard library only: the SignalWire SDK suite (tests_signalwire, its own virtual environment) imports
this module too, through the repository root its pytest.ini puts on the path. The request goes to
loopback straight through http.client, so no proxy setting of the environment can get in the way.
"""

from __future__ import annotations

import http.client
import json
import ssl
import subprocess
import time
from pathlib import Path
from urllib.parse import urlsplit

POLL_S = 0.05


class NotHealthy(RuntimeError):
    """The process exited during start-up, or did not answer /healthz before the deadline."""


def healthy(base_url: str, cafile: Path | None = None) -> bool:
    """Whether the server at `base_url` answers GET /healthz with 200 {"status": "ok"} now."""
    url = urlsplit(base_url)
    assert url.hostname is not None and url.port is not None, base_url
    conn: http.client.HTTPConnection
    if url.scheme == "https":
        context = ssl.create_default_context(cafile=None if cafile is None else str(cafile))
        conn = http.client.HTTPSConnection(url.hostname, url.port, timeout=1, context=context)
    else:
        conn = http.client.HTTPConnection(url.hostname, url.port, timeout=1)
    try:
        conn.request("GET", "/healthz")
        response = conn.getresponse()
        return response.status == 200 and json.loads(response.read()) == {"status": "ok"}
    finally:
        conn.close()


def wait_healthy(
    proc: subprocess.Popen[bytes], base_url: str, timeout: float, cafile: Path | None = None
) -> None:
    """Return once `proc`, serving `base_url`, answers /healthz; raise NotHealthy when it exits first
    or `timeout` seconds pass (the last connection error in the message)."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while True:
        code = proc.poll()
        if code is not None:
            raise NotHealthy(f"exited with {code} during start-up")
        try:
            if healthy(base_url, cafile):
                return
        except (OSError, http.client.HTTPException, ValueError) as exc:
            last_error = exc
        if time.monotonic() >= deadline:
            raise NotHealthy(f"did not answer {base_url}/healthz within {timeout:g} s ({last_error})")
        time.sleep(POLL_S)  # polling /healthz under a deadline
