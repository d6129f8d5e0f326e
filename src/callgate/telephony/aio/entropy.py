"""Random hex for SIP identifiers (Call-IDs, tags, branches, cnonces), read from `os.urandom` in
blocks: a call needs five or six, and a system call each cost more than the rest of building them.
The block is dropped in a forked child, so processes never share identifiers."""

from __future__ import annotations

import os

_BLOCK = 4096
_pool = b""
_at = 0


def _forget() -> None:
    global _pool, _at
    _pool, _at = b"", 0


os.register_at_fork(after_in_child=_forget)


def token_hex(nbytes: int) -> str:
    """`2 * nbytes` random hex digits (as `secrets.token_hex`, from the same OS source)."""
    global _pool, _at
    if _at + nbytes > len(_pool):
        _pool, _at = os.urandom(_BLOCK), 0
    out = _pool[_at : _at + nbytes].hex()
    _at += nbytes
    return out
