"""The pure packages never import I/O, clocks or randomness: asyncio, sockets, threads, SQL or HTTP.

The same rules are import-linter contracts in pyproject.toml (`make lint`); this is the pytest-side copy, so a
plain test run catches a pure module that reaches for a clock or a socket.
"""

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "src" / "callgate"
PURE = ["core", "telephony/sip", "telephony/rtp", "telephony/media"]
FORBIDDEN = {
    "asyncio",
    "socket",
    "select",
    "ctypes",
    "threading",
    "time",
    "random",
    "secrets",
    "sqlalchemy",
    "httpx",
    "starlette",
    "uvicorn",
    "requests",
    "aiosqlite",
    "asyncpg",
}


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def pure_files() -> list[Path]:
    return [p for pkg in PURE if (SRC / pkg).exists() for p in sorted((SRC / pkg).rglob("*.py"))]


@pytest.mark.parametrize("path", pure_files(), ids=lambda p: str(p.relative_to(SRC)))
def test_pure_module_imports_no_io(path):
    assert imported_modules(path) & FORBIDDEN == set()


CORE_FORBIDDEN = FORBIDDEN | {"os"}


@pytest.mark.parametrize("path", sorted((SRC / "core").rglob("*.py")), ids=lambda p: p.name)
def test_core_reads_no_clock_and_no_randomness(path):
    """Clocks and randomness are injected into the core (STYLE.md section 7)."""
    assert imported_modules(path) & CORE_FORBIDDEN == set()


def test_core_does_not_import_outer_layers():
    for path in (SRC / "core").rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("callgate."):
                assert node.module.startswith("callgate.core"), f"{path.name} imports {node.module}"


def _all_imports(path: Path) -> set[str]:
    modules: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            modules.add(node.module)
    return modules


def test_dialects_do_not_touch_the_store_directly():
    """Routes talk to services; only `store.base` (the protocol and its records) may be named."""
    for path in (SRC / "dialects").rglob("*.py"):
        bad = {
            m
            for m in _all_imports(path)
            if m.split(".")[0] == "sqlalchemy"
            or (m.startswith("callgate.store") and m != "callgate.store.base")
        }
        assert not bad, (path, bad)


def _module_graph(package: str) -> dict[str, set[str]]:
    """Module -> the modules of `package` it imports (any import, even under TYPE_CHECKING or inside a
    function: a cycle hidden there is still a cycle of the design)."""
    root = SRC.parent
    modules = {
        ".".join(path.relative_to(root).with_suffix("").parts).removesuffix(".__init__"): path
        for path in (root / package.replace(".", "/")).rglob("*.py")
    }
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
            for target in targets:
                while target and target not in modules:
                    target = target.rpartition(".")[0]
                if target and target != name and not name.startswith(target + "."):
                    found.add(target)  # (a package's own __init__ is not a cycle with its modules)
        graph[name] = found
    return graph


def _a_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(module: str) -> list[str] | None:
        state[module] = 1
        path.append(module)
        for imported in sorted(graph[module]):
            if state.get(imported) == 1:
                return path[path.index(imported) :] + [imported]
            if imported not in state and (cycle := visit(imported)) is not None:
                return cycle
        path.pop()
        state[module] = 2
        return None

    for module in sorted(graph):
        if module not in state and (cycle := visit(module)) is not None:
            return cycle
    return None


@pytest.mark.parametrize("package", ["callgate.core", "callgate.telephony"])
def test_no_import_cycle(package):
    """The floors point down: no module of the package imports, however indirectly, one that imports
    it back (the whole of src/callgate joins this list once the engine's circle is gone)."""
    assert _a_cycle(_module_graph(package)) is None


def test_the_cycle_finder_finds_one():
    assert _a_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert _a_cycle({"a": {"b"}, "b": set()}) is None


DIALECT_PACKAGES = ("callgate.dialects.twilio", "callgate.dialects.signalwire")
COMPOSITION_ROOT = {"app.py", "cli.py"}


def test_only_the_composition_root_imports_a_dialect_package():
    """Everything else sees a dialect through its `dialects.registration.Dialect` (the import-linter
    contract checks indirect imports too)."""
    for path in SRC.rglob("*.py"):
        relative = path.relative_to(SRC)
        inside = relative.parts[:2] in (("dialects", "twilio"), ("dialects", "signalwire"))
        if str(relative) in COMPOSITION_ROOT or inside:
            continue
        bad = {m for m in _all_imports(path) if m.startswith(DIALECT_PACKAGES)}
        assert not bad, (str(relative), bad)
