"""src/callgate has no import cycle, and the engine hides none inside its functions.

The graph is the imports Python runs when a module loads: the module's own statements and its
classes' bodies (an `if`/`try` included), not a function's body and not `if TYPE_CHECKING:`, which
only the type checker reads. `from a import b` is an edge to `a.b` when that is a module, else to `a`.
A cycle is a strongly connected component of more than one module (or a module importing itself).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src"
PACKAGE = SRC / "callgate"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _type_checking_only(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def load_time_imports(body: list[ast.stmt]) -> Iterator[ast.Import | ast.ImportFrom]:
    """The import statements that run when this body runs, functions' bodies left out."""
    for node in body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        elif isinstance(node, ast.If):
            if not _type_checking_only(node):
                yield from load_time_imports(node.body)
            yield from load_time_imports(node.orelse)
        elif isinstance(node, ast.Try):
            for block in (node.body, node.orelse, node.finalbody, *(h.body for h in node.handlers)):
                yield from load_time_imports(block)
        elif isinstance(node, ast.With | ast.For | ast.While):
            yield from load_time_imports(node.body)
        elif isinstance(node, ast.ClassDef):
            yield from load_time_imports(node.body)


def _package_of(name: str) -> str:
    return name if MODULES[name].name == "__init__.py" else name.rpartition(".")[0]


def edges(name: str, tree: ast.Module) -> set[str]:
    """The callgate modules `name` imports when it loads."""
    found: set[str] = set()
    for node in load_time_imports(tree.body):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        else:
            base = node.module or ""
            if node.level:
                package = _package_of(name).split(".")
                anchor = ".".join(package[: len(package) - node.level + 1])
                base = f"{anchor}.{base}" if base else anchor
            targets = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base for alias in node.names
            ]
        found.update(t for t in targets if t in MODULES)
    return found


def import_graph() -> dict[str, set[str]]:
    return {
        name: edges(name, ast.parse(path.read_text(), filename=str(path))) for name, path in MODULES.items()
    }


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with a cycle in them (Tarjan's algorithm, without recursion)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in graph:
        if root in index:
            continue
        work: list[tuple[str, Iterator[str]]] = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component: list[str] = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1 or node in graph[node]:
                    found.append(sorted(component))
    return found


def test_the_finder_sees_a_cycle_and_ignores_type_checking_imports():
    graph = {
        "a": {"b"},
        "b": {"c"},
        "c": {"a"},
        "d": {"d"},
        "e": {"a"},
    }
    assert sorted(cycles(graph)) == [["a", "b", "c"], ["d"]]
    module = ast.parse(
        "from typing import TYPE_CHECKING\n"
        "import callgate.engine.shared\n"
        "if TYPE_CHECKING:\n    from callgate.engine import runner\n"
        "def f():\n    from callgate.engine import session\n"
        "class C:\n    from callgate.engine.verbs import base\n"
    )
    assert edges("callgate.engine.worker", module) == {"callgate.engine.shared", "callgate.engine.verbs.base"}


def test_relative_imports_resolve_against_the_package():
    module = ast.parse("from . import runner\nfrom .verbs.base import Goto\n")
    assert edges("callgate.engine.worker", module) == {"callgate.engine.runner", "callgate.engine.verbs.base"}


def test_src_callgate_has_no_import_cycle():
    assert cycles(import_graph()) == []


def _names_callgate(node: ast.AST) -> bool:
    if isinstance(node, ast.Import):
        return any(alias.name.split(".")[0] == "callgate" for alias in node.names)
    if isinstance(node, ast.ImportFrom):
        return node.level > 0 or (node.module or "").split(".")[0] == "callgate"
    return False


def test_the_engine_imports_nothing_inside_its_functions():
    """An import of Callgate's own modules inside a function is how a cycle hides: the engine's modules
    import each other at the top (a third-party library may still be loaded when first needed)."""
    hidden: list[str] = []
    for name, path in MODULES.items():
        if not name.startswith("callgate.engine"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                for inner in ast.walk(node):
                    if _names_callgate(inner):
                        hidden.append(f"{name}.{node.name}:{inner.lineno}")
    assert hidden == []
