"""A verb imports `verbs/base.py`, its sibling verbs and pure code only: never the session, the
runner, the store or the telephony shell (what it may touch is `base.CallContext`)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

VERBS = Path(__file__).resolve().parents[3] / "src" / "callgate" / "engine" / "verbs"
ALLOWED = ("callgate.core", "callgate.engine.verbs")
SHELL = {"callgate.engine.verbs.registry"}  # the table imports every verb; no verb imports it


def callgate_imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("callgate"):
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.startswith("callgate"))
    return found


MODULES = [p for p in sorted(VERBS.glob("*.py")) if p.stem not in ("base", "registry")]


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.name)
def test_a_verb_imports_base_and_pure_code_only(path):
    imports = callgate_imports(path)
    assert {m for m in imports if not m.startswith(ALLOWED)} == set()
    assert imports & SHELL == set()
