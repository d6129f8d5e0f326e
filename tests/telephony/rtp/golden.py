"""The golden vectors of vectors/ (written by vectors/generate.py): good packets that round-trip,
bad ones with the exact reason they are refused for, as pytest parameters named after their files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

VECTORS = Path(__file__).parent / "vectors"


def vector(name: str) -> bytes:
    """The bytes of `vectors/NAME`, e.g. vector("rtcp/good/sr.bin")."""
    return (VECTORS / name).read_bytes()


def good(kind: str) -> list[Any]:
    """(data,) for every `vectors/KIND/good/*.bin`."""
    files = sorted((VECTORS / kind / "good").glob("*.bin"))
    assert files, f"no vectors in {VECTORS / kind / 'good'}"
    return [pytest.param(path.read_bytes(), id=path.stem) for path in files]


def bad(kind: str) -> list[Any]:
    """(data, reason) for every `vectors/KIND/bad/*.bin`, the reason read from its .txt beside it."""
    files = sorted((VECTORS / kind / "bad").glob("*.bin"))
    assert files, f"no vectors in {VECTORS / kind / 'bad'}"
    return [
        pytest.param(path.read_bytes(), path.with_suffix(".txt").read_text().rstrip("\n"), id=path.stem)
        for path in files
    ]
