"""ARCHITECTURE.md's state diagrams are the code's transition tables as they are now (`make diagrams`)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from callgate.core import status
from callgate.core.events import CallRinging
from callgate.telephony.sip import transaction

ROOT = Path(__file__).resolve().parent.parent
ARCHITECTURE = ROOT / "ARCHITECTURE.md"

_spec = importlib.util.spec_from_file_location("state_diagrams", ROOT / "scripts" / "state_diagrams.py")
assert _spec is not None and _spec.loader is not None
state_diagrams = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(state_diagrams)

TABLES = [
    (transaction.INVITE_CLIENT, transaction.InviteClientTransaction.initial),
    (transaction.NON_INVITE_CLIENT, transaction.NonInviteClientTransaction.initial),
    (transaction.INVITE_SERVER, transaction.InviteServerTransaction.initial),
    (transaction.NON_INVITE_SERVER, transaction.NonInviteServerTransaction.initial),
]


def document() -> str:
    return ARCHITECTURE.read_text(encoding="utf-8")


def lines(block: str) -> set[str]:
    return {line.strip() for line in block.splitlines()}


def test_architecture_md_holds_the_diagrams_the_tables_make_now():
    current = document()
    assert state_diagrams.BEGIN in current and state_diagrams.END in current
    assert state_diagrams.with_diagrams(current, state_diagrams.diagrams()) == current, (
        "ARCHITECTURE.md's state diagrams are stale: run `make diagrams`"
    )


def test_a_new_call_status_move_makes_the_document_stale(monkeypatch):
    changed = {source: dict(row) for source, row in status.TRANSITIONS.items()}
    changed[status.CallStatus.IN_PROGRESS][CallRinging] = status.CallStatus.RINGING
    monkeypatch.setattr(status, "TRANSITIONS", changed)
    block = state_diagrams.diagrams()
    assert "IN_PROGRESS --> RINGING: CallRinging" in lines(block)
    assert state_diagrams.with_diagrams(document(), block) != document()


def test_a_removed_transaction_row_makes_the_document_stale(monkeypatch):
    changed = dict(transaction.INVITE_CLIENT)
    del changed[(transaction.State.CALLING, "A")]
    monkeypatch.setattr(transaction, "INVITE_CLIENT", changed)
    block = state_diagrams.diagrams()
    assert "CALLING --> CALLING: A / send, double A" not in lines(block)
    assert state_diagrams.with_diagrams(document(), block) != document()


def test_every_call_status_move_is_an_edge_labelled_with_its_events():
    drawn = lines(state_diagrams.call_status_diagram(status.TRANSITIONS, status.TERMINAL))
    edges = {line.split(": ")[0]: set(line.split(": ")[1].split(", ")) for line in drawn if ": " in line}
    for source, row in status.TRANSITIONS.items():
        for event, to in row.items():
            assert event.__name__ in edges[f"{source.name} --> {to.name}"]
    assert len(edges) == len({(s, to) for s, row in status.TRANSITIONS.items() for to in row.values()})


def test_calls_begin_queued_and_end_in_the_terminal_statuses():
    drawn = lines(state_diagrams.call_status_diagram(status.TRANSITIONS, status.TERMINAL))
    assert {line for line in drawn if line.startswith("[*] -->")} == {"[*] --> QUEUED"}
    finals = {line for line in drawn if line.endswith("--> [*]")}
    assert finals == {f"{s.name} --> [*]" for s in status.TERMINAL}
    assert 'state "in-progress" as IN_PROGRESS' in drawn


@pytest.mark.parametrize("table, initial", TABLES, ids=["invite-client", "non-invite-client", "invite-server",
                                                        "non-invite-server"])  # fmt: skip
def test_every_transaction_row_is_an_edge(table, initial):
    drawn = lines(state_diagrams.transaction_diagram(table, initial))
    for (source, given), (to, actions) in table.items():
        label = f"{given} / {', '.join(actions)}" if actions else given
        assert f"{source.name} --> {to.name}: {label}" in drawn
    assert f"[*] --> {initial.name}" in drawn
    assert {line for line in drawn if line.endswith("--> [*]")} == {"TERMINATED --> [*]"}


def test_the_script_writes_between_the_markers_and_checks(tmp_path):
    path = tmp_path / "ARCHITECTURE.md"
    begin, end = state_diagrams.BEGIN, state_diagrams.END
    path.write_text(f"# Title\n\n{begin}\nold\n{end}\n\nafter\n", encoding="utf-8")
    assert state_diagrams.main(["--check", "--file", str(path)]) == 1
    assert state_diagrams.main(["--file", str(path)]) == 0
    written = path.read_text(encoding="utf-8")
    assert "old" not in written and written.startswith("# Title\n") and written.endswith("\nafter\n")
    assert "stateDiagram-v2" in written
    assert state_diagrams.main(["--check", "--file", str(path)]) == 0


def test_a_document_without_markers_is_refused():
    with pytest.raises(state_diagrams.MarkersMissing):
        state_diagrams.with_diagrams("# no markers here\n", "block")
