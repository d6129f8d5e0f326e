"""Run every check `make test` promises, and end with one summary line.

1. ruff and mypy over the code;
2. the main suite in .venv (SQLite and PostgreSQL, the twilio SDK, real processes);
3. the SignalWire SDK suite in .venv-signalwire (signalwire 2.1.1 pins twilio 6.54, so it cannot share .venv).
"""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "test-results"


def run(step: str, argv: list[str], env: dict[str, str] | None = None) -> int:
    print(f"\n=== {step}: {' '.join(argv)}", flush=True)
    return subprocess.call(argv, cwd=ROOT, env=env)


def counts(junit: Path) -> tuple[int, int, int]:
    """(passed, failed, skipped) from a JUnit XML file; a missing file counts as one failure."""
    if not junit.exists():
        return 0, 1, 0
    root = ET.parse(junit).getroot()
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    total = failed = skipped = 0
    for suite in suites:
        total += int(suite.get("tests", 0))
        failed += int(suite.get("failures", 0)) + int(suite.get("errors", 0))
        skipped += int(suite.get("skipped", 0))
    return total - failed - skipped, failed, skipped


def main() -> int:
    RESULTS.mkdir(exist_ok=True)
    venv = ROOT / ".venv" / "bin"
    sw_venv = ROOT / ".venv-signalwire" / "bin"
    env = {**os.environ, "NO_PROXY": "127.0.0.1,localhost,::1", "no_proxy": "127.0.0.1,localhost,::1"}
    for var in ("TWILIO_REGION", "TWILIO_EDGE", "SIGNALWIRE_SPACE_URL"):
        env.pop(var, None)
    lint_failed = 0
    lint_failed += (
        run(
            "ruff", [str(venv / "ruff"), "check", "src", "tests", "tests_signalwire", "bench", "scripts"], env
        )
        != 0
    )
    lint_failed += run("mypy", [str(venv / "mypy")], env) != 0
    src_env = {**env, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT / "src"), env.get("PYTHONPATH")]))}
    lint_failed += run("import contracts", [str(venv / "lint-imports")], src_env) != 0
    main_xml, sw_xml = RESULTS / "main.xml", RESULTS / "signalwire.xml"
    for xml in (main_xml, sw_xml):
        xml.unlink(missing_ok=True)
    run("tests", [str(venv / "python"), "-m", "pytest", "-q", f"--junitxml={main_xml}", "tests"], env)
    sw_env = {**env, "CALLGATE_BIN": str(venv / "callgate")}
    run(
        "signalwire SDK tests",
        [
            str(sw_venv / "python"),
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            f"--junitxml={sw_xml}",
            "-c",
            "tests_signalwire/pytest.ini",
            "tests_signalwire",
        ],
        sw_env,
    )
    passed = failed = skipped = 0
    for xml in (main_xml, sw_xml):
        p, f, s = counts(xml)
        passed, failed, skipped = passed + p, failed + f, skipped + s
    failed += lint_failed
    print(f"\nsummary: {passed} passed, {failed} failed, {skipped} skipped", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
