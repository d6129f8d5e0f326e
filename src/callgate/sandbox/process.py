"""The sandbox in a process of its own, started by `callgate serve` and `callgate worker`.

The phones answer calls, speak, play and record on a core of their own instead of sharing the
event loop (and the GIL) of the process that places the calls, as a real far end would. The child
is `callgate sandbox --sip HOST:PORT --with-parent`: it reads the rest of its settings from the
same environment and settings file, prints the address it bound on its first line of output, and
exits when its standard input closes, so it never outlives the process that started it (even one
killed with SIGKILL).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import sys

log = logging.getLogger("callgate.sandbox")

_READY = re.compile(rb"sip:(?P<host>\[[^\]]+\]|[^:\s]+):(?P<port>\d+)")
START_TIMEOUT_S = 30.0


class SandboxProcess:
    """A running child sandbox: where it listens, and how to stop it."""

    def __init__(self, process: asyncio.subprocess.Process, address: tuple[str, int]) -> None:
        self.process = process
        self.address = address

    @classmethod
    async def start(cls, address: str) -> SandboxProcess | None:
        """Start the child on `address`; None (with a warning) if it could not start there, as when
        the address is taken: `callgate serve` still serves its API then."""
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "callgate", "sandbox", "--sip", address, "--with-parent",
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        assert process.stdout is not None
        try:
            line = await asyncio.wait_for(process.stdout.readline(), START_TIMEOUT_S)
        except TimeoutError:
            line = b""
        match = _READY.search(line)
        if match is None:
            log.warning("sandbox not started on %s (see its message above)", address)
            await _stop(process)
            return None
        host = match["host"].decode().strip("[]")
        return cls(process, (host, int(match["port"])))

    def close(self) -> None:
        """Tell the child to go (its standard input closes); it ends its calls' media and exits."""
        if self.process.stdin is not None and not self.process.stdin.is_closing():
            self.process.stdin.close()

    async def wait_closed(self) -> None:
        """Wait for the child to exit (stopped if it has not within 5 s)."""
        self.close()
        await _stop(self.process)


async def _stop(process: asyncio.subprocess.Process) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(process.wait(), 5)
        return
    with contextlib.suppress(ProcessLookupError):
        process.kill()
    await process.wait()


async def wait_for_parent() -> None:
    """Return when standard input closes: the process that started this one has gone."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while await reader.read(4096):
        pass


__all__ = ["SandboxProcess", "wait_for_parent"]
