"""ARCHITECTURE.md's state diagrams, drawn from the code's own transition tables.

    .venv/bin/python scripts/state_diagrams.py           # rewrite ARCHITECTURE.md's diagrams (make diagrams)
    .venv/bin/python scripts/state_diagrams.py --check   # exit 1 if they differ from the tables

The diagrams are Mermaid `stateDiagram-v2` blocks, written between the marker comments BEGIN and END
of ARCHITECTURE.md; everything outside the markers is left as it is. The tables are the ones the
code runs: the call status machine (`callgate.core.status.TRANSITIONS`) and the four RFC 3261
transactions (`callgate.telephony.sip.transaction`). Only pure modules are imported, and nothing
is read or written but ARCHITECTURE.md, so tests/test_architecture.py can call `diagrams()` to tell
whether the file is stale.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Mapping
from enum import Enum
from pathlib import Path

from callgate.core import status
from callgate.telephony.sip import transaction

ROOT = Path(__file__).resolve().parent.parent
ARCHITECTURE = ROOT / "ARCHITECTURE.md"
BEGIN = "<!-- state-diagrams:begin -->"
END = "<!-- state-diagrams:end -->"
NOTE = "<!-- written by `make diagrams` (scripts/state_diagrams.py) from the code's tables: do not edit -->"

#: an edge of a diagram: (from state, to state, label)
Edge = tuple[Enum, Enum, str]


def mermaid(initial: Iterable[Enum], edges: Iterable[Edge], final: Iterable[Enum]) -> str:
    """One `stateDiagram-v2` block. States are named by their enum member (Mermaid ids take no `-`)
    and shown with their value (`in-progress`, `Proceeding`); edges keep the order they come in."""
    edges = list(edges)
    states: list[Enum] = []
    for state in [*initial, *(s for edge in edges for s in edge[:2]), *final]:
        if state not in states:
            states.append(state)
    lines = ["```mermaid", "stateDiagram-v2"]
    lines += [f'    state "{state.value}" as {state.name}' for state in states]
    lines += [f"    [*] --> {state.name}" for state in initial]
    lines += [f"    {a.name} --> {b.name}: {label}" for a, b, label in edges]
    lines += [f"    {state.name} --> [*]" for state in final]
    lines.append("```")
    return "\n".join(lines)


def call_status_diagram(
    transitions: Mapping[status.CallStatus, Mapping[type, status.CallStatus]],
    terminal: Iterable[status.CallStatus],
) -> str:
    """The call status machine: one edge per (status, next status), labelled with the events that
    make the move. A status no other status leads to is where calls begin."""
    targets = {to for source, row in transitions.items() for to in row.values() if to is not source}
    initial = [s for s in transitions if s not in targets]
    edges: list[Edge] = []
    for source, row in transitions.items():
        by_target: dict[status.CallStatus, list[str]] = {}
        for event, to in row.items():
            by_target.setdefault(to, []).append(event.__name__)
        edges += [(source, to, ", ".join(names)) for to, names in by_target.items()]
    return mermaid(initial, edges, [s for s in transitions if s in set(terminal)])


def transaction_diagram(
    table: Mapping[tuple[transaction.State, str], tuple[transaction.State, tuple[str, ...]]],
    initial: transaction.State,
) -> str:
    """One transaction's table: an edge per row, labelled `input / actions`. A state that has no row
    of its own is where the transaction ends."""
    edges: list[Edge] = []
    for (source, given), (to, actions) in table.items():
        edges.append((source, to, f"{given} / {', '.join(actions)}" if actions else given))
    sources = {source for source, _ in table}
    final = [to for _, (to, _) in table.items() if to not in sources]
    return mermaid([initial], edges, dict.fromkeys(final))


def diagrams() -> str:
    """Everything between the markers, from the tables as the code holds them now."""
    t = transaction
    sections = [
        (
            "Call status: `callgate.core.status.TRANSITIONS`",
            call_status_diagram(status.TRANSITIONS, status.TERMINAL),
        ),
        (
            "INVITE client transaction (RFC 3261 17.1.1): `transaction.INVITE_CLIENT`",
            transaction_diagram(t.INVITE_CLIENT, t.InviteClientTransaction.initial),
        ),
        (
            "Non-INVITE client transaction (RFC 3261 17.1.2): `transaction.NON_INVITE_CLIENT`",
            transaction_diagram(t.NON_INVITE_CLIENT, t.NonInviteClientTransaction.initial),
        ),
        (
            "INVITE server transaction (RFC 3261 17.2.1, RFC 6026): `transaction.INVITE_SERVER`",
            transaction_diagram(t.INVITE_SERVER, t.InviteServerTransaction.initial),
        ),
        (
            "Non-INVITE server transaction (RFC 3261 17.2.2): `transaction.NON_INVITE_SERVER`",
            transaction_diagram(t.NON_INVITE_SERVER, t.NonInviteServerTransaction.initial),
        ),
    ]
    parts = [NOTE]
    for title, block in sections:
        parts += [f"### {title}", block]
    return "\n\n".join(parts)


class MarkersMissing(ValueError):
    """The document has no BEGIN ... END pair to write the diagrams between."""


def with_diagrams(document: str, block: str) -> str:
    """`document` with everything between its markers replaced by `block`."""
    start = document.find(BEGIN)
    stop = document.find(END, start + len(BEGIN)) if start >= 0 else -1
    if start < 0 or stop < 0:
        raise MarkersMissing(f"the document needs {BEGIN} and, after it, {END}")
    return f"{document[: start + len(BEGIN)]}\n{block}\n{document[stop:]}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="exit 1 if ARCHITECTURE.md's diagrams are stale")
    parser.add_argument("--file", type=Path, default=ARCHITECTURE, help="the document (ARCHITECTURE.md)")
    args = parser.parse_args(argv)
    document = args.file.read_text(encoding="utf-8")
    fresh = with_diagrams(document, diagrams())
    if args.check:
        if fresh != document:
            print(f"{args.file}: the state diagrams are stale; run `make diagrams`", file=sys.stderr)
            return 1
        return 0
    if fresh != document:
        args.file.write_text(fresh, encoding="utf-8")
        print(f"{args.file}: state diagrams written")
    return 0


if __name__ == "__main__":
    sys.exit(main())
