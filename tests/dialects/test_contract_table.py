"""The contract table of docs/COMPATIBILITY.md has a row for every parameter and field of each face's seed.

The section "The contract, parameter by parameter" holds two tables per face: the Create Call
parameters (path parameters included) and the fields of the call resource. Here they are compared with
the vendors' own pages in ../shared (beside the checkout, as CI has it): a seed parameter or field
without a row fails, and so does a row for a name the seed does not have. Every cell must be filled,
and every test a row says proves it must exist (`path::test_name`, a `def test_name` in that file), so
a renamed or deleted test fails here too.

A face is one `Face` entry: its two table headings and how to read the names from its seed. Bandwidth
(seeds 003/004) gets an entry when it gets a face.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared"
SEEDS = SHARED / "seeds"
DOC = ROOT / "docs" / "COMPATIBILITY.md"
SECTION = "## The contract, parameter by parameter"

TWILIO_SEED = SEEDS / "002_5cd275e3a87f46a0.txt"  # HTML; the request schema is its <pre class="schema">
# The Twilio seed's response section is empty: the fields are those of the call schema that Twilio's
# OpenAPI document gives Calls.json create and Calls/{Sid}.json fetch.
TWILIO_REFERENCE = SHARED / "reference" / "twilio_api_v2010_calls.json"
SIGNALWIRE_SEED = SEEDS / "001_c81459d285dfd053.txt"  # plain text: Path parameters, Request, Response

PARAMETER_COLUMNS = ["parameter", "validated (rule and error code)", "effect on a call", "proven by"]
FIELD_COLUMNS = ["field", "value (what Callgate puts there, when)", "proven by"]

# A row may say `pending` while its behaviour is being changed, until the change lands with its
# tests; none does now (and no field row ever may).
PENDING = "pending"
PENDING_PARAMETERS: frozenset[str] = frozenset()

NAME_CELL = re.compile(r"`([^`]+)`")
TEST_REF = re.compile(r"(tests(?:_signalwire)?/(?:\w+/)*test_\w+\.py)::(test_\w+)")
PROVEN_BY = re.compile(r"`[^`]+`(?:, `[^`]+`)*")


# The seeds


def _between(text: str, start: str, end: str) -> str:
    return text[text.index(start) + len(start) : text.index(end)]


def twilio_parameters() -> set[str]:
    page = TWILIO_SEED.read_text()
    path = re.findall(
        r'<span class="parameter-name">(\w+)</span> \[ in: <span class="parameter-location">path</span>', page
    )
    schema = re.search(r'<pre class="schema">(.*?)</pre>', page, re.S)
    assert schema is not None, f"{TWILIO_SEED} has no request schema"
    body = json.loads(html.unescape(schema[1]))
    assert body["title"] == "CreateCallRequest"
    return set(path) | set(body["properties"])


def _response_schema(operation: dict) -> str:
    (status,) = [code for code in operation["responses"] if code.startswith("2")]
    ref: str = operation["responses"][status]["content"]["application/json"]["schema"]["$ref"]
    return ref.rsplit("/", 1)[-1]


def twilio_fields() -> set[str]:
    spec = json.loads(TWILIO_REFERENCE.read_text())
    calls = spec["paths"]["/2010-04-01/Accounts/{AccountSid}/Calls.json"]["post"]
    call = spec["paths"]["/2010-04-01/Accounts/{AccountSid}/Calls/{Sid}.json"]["get"]
    name = _response_schema(calls)
    assert _response_schema(call) == name, "create and fetch return one call schema"
    return set(spec["components"]["schemas"][name]["properties"])


# SignalWire's page runs each name into its type and presence: `TostringRequired`,
# `parent_call_sidstring or nullRequired`.
_SIGNALWIRE_TYPE = (
    r"(?:string|integer|double|enum|boolean|object|list of strings)(?: or null)?(?:Required|Optional)"
)


def signalwire_parameters() -> set[str]:
    text = SIGNALWIRE_SEED.read_text()
    path = _between(text, "\nPath parameters\n", "\nRequest\n")
    request = _between(text, "\nRequest\n", "\nResponse\n")
    return set(re.findall(rf"^([A-Z][A-Za-z]+?){_SIGNALWIRE_TYPE}", path + request, re.M))


def signalwire_fields() -> set[str]:
    response = _between(SIGNALWIRE_SEED.read_text(), "\nResponse\n", "\nRequest examples\n")
    return set(re.findall(rf"^([a-z][a-z0-9_]*?){_SIGNALWIRE_TYPE}", response, re.M))


@dataclass(frozen=True)
class Face:
    """One face: the headings of its two tables, its seed files, and how to read their names."""

    name: str
    parameters_table: str
    fields_table: str
    seed_files: tuple[Path, ...]
    seed_parameters: Callable[[], set[str]]
    seed_fields: Callable[[], set[str]]


FACES = [
    Face(
        "twilio",
        "Twilio Create Call parameters",
        "Twilio call resource fields",
        (TWILIO_SEED, TWILIO_REFERENCE),
        twilio_parameters,
        twilio_fields,
    ),
    Face(
        "signalwire",
        "SignalWire Create Call parameters",
        "SignalWire call resource fields",
        (SIGNALWIRE_SEED,),
        signalwire_parameters,
        signalwire_fields,
    ),
]

needs_shared = pytest.mark.skipif(
    not all(path.exists() for face in FACES for path in face.seed_files),
    reason=f"the seeds are not in {SHARED} (../shared beside the checkout)",
)
each_face = pytest.mark.parametrize("face", FACES, ids=lambda face: face.name)


# The tables


@dataclass(frozen=True)
class Table:
    columns: list[str]
    rows: list[list[str]]

    def names(self) -> list[str]:
        """The first column's wire names, without their backticks."""
        names = []
        for row in self.rows:
            match = NAME_CELL.fullmatch(row[0])
            assert match is not None, f"the first cell is not one name in backticks: {row[0]!r}"
            names.append(match[1])
        return names


def _cells(line: str) -> list[str]:
    assert line.endswith("|"), f"a table row ends with |: {line!r}"
    return [cell.strip() for cell in re.split(r"(?<!\\)\|", line[1:-1])]


@cache
def contract_tables() -> dict[str, Table]:
    """The section's tables by their `###` heading."""
    text = DOC.read_text()
    assert SECTION in text, f"{DOC} has no section {SECTION!r}"
    section = text[text.index(SECTION) + len(SECTION) :]
    following = re.search(r"^## ", section, re.M)
    if following is not None:
        section = section[: following.start()]
    lines: dict[str, list[list[str]]] = {}
    heading = None
    for line in section.splitlines():
        if line.startswith("### "):
            heading = line[4:].strip()
        elif line.startswith("|"):
            assert heading is not None, f"a table before any ### heading: {line!r}"
            lines.setdefault(heading, []).append(_cells(line))
    tables = {}
    for heading, (columns, rule, *rows) in lines.items():
        assert all(re.fullmatch(r":?-+:?", cell) for cell in rule), f"{heading}: no header rule"
        tables[heading] = Table(columns, rows)
    return tables


def table(heading: str) -> Table:
    tables = contract_tables()
    assert heading in tables, f"{DOC} has no table under ### {heading}"
    return tables[heading]


def _assert_same_names(heading: str, table_names: list[str], seed: set[str]) -> None:
    repeated = sorted({n for n in table_names if table_names.count(n) > 1})
    assert not repeated, f"{heading}: rows repeated: {repeated}"
    missing = sorted(seed - set(table_names))
    extra = sorted(set(table_names) - seed)
    assert not missing, f"{heading}: the seed's {missing} have no row"
    assert not extra, f"{heading}: rows for what the seed does not have: {extra}"


@needs_shared
def test_the_seeds_are_read():
    """The readers find the seeds' names (a reader that found nothing would make every table 'complete')."""
    assert {"AccountSid", "To", "From", "Url", "Twiml", "Byoc", "Trim"} <= twilio_parameters()
    assert len(twilio_parameters()) == 36
    assert {"sid", "queue_time", "trunk_sid", "subresource_uris"} <= twilio_fields()
    assert {"AccountSid", "To", "MachineWordsThreshold", "MaxPricePerMinute"} <= signalwire_parameters()
    assert len(signalwire_parameters()) == 34
    assert {"sid", "parent_call_sid", "audio_out_lost", "formatted_to"} <= signalwire_fields()
    assert len(signalwire_fields()) == 36


@needs_shared
@each_face
def test_every_seed_parameter_has_a_row(face):
    parameters = table(face.parameters_table)
    _assert_same_names(face.parameters_table, parameters.names(), face.seed_parameters())


@needs_shared
@each_face
def test_every_response_field_has_a_row(face):
    fields = table(face.fields_table)
    _assert_same_names(face.fields_table, fields.names(), face.seed_fields())


def test_every_table_of_the_section_belongs_to_a_face():
    expected = {heading for face in FACES for heading in (face.parameters_table, face.fields_table)}
    assert set(contract_tables()) == expected


@each_face
def test_every_row_has_every_cell_filled(face):
    for heading, columns in ((face.parameters_table, PARAMETER_COLUMNS), (face.fields_table, FIELD_COLUMNS)):
        found = table(heading)
        assert found.columns == columns, heading
        for row in found.rows:
            assert len(row) == len(columns), f"{heading}: {row[0]} has {len(row)} cells, not {len(columns)}"
            empty = [columns[i] for i, cell in enumerate(row) if not cell]
            assert not empty, f"{heading}: {row[0]} has no {', '.join(empty)}"


@cache
def _test_source(path: str) -> str | None:
    file = ROOT / path
    return file.read_text() if file.is_file() else None


def _unproven(cell: str) -> list[str]:
    """What is wrong with a `proven by` cell of test references: [] when each names a test that exists."""
    if not PROVEN_BY.fullmatch(cell):
        return [f"not a list of `path::test` references: {cell!r}"]
    problems = []
    for ref in NAME_CELL.findall(cell):
        match = TEST_REF.fullmatch(ref)
        if match is None:
            problems.append(f"not tests/...py::test_name: {ref}")
            continue
        path, name = match[1], match[2]
        source = _test_source(path)
        if source is None:
            problems.append(f"no file {path}")
        elif not re.search(rf"^\s*(?:async\s+)?def {name}\(", source, re.M):
            problems.append(f"no def {name} in {path}")
    return problems


@each_face
def test_every_proof_names_a_test_that_exists(face):
    allowed = {face.parameters_table: PENDING_PARAMETERS, face.fields_table: frozenset()}
    for heading, may_be_pending in allowed.items():
        found = table(heading)
        for name, row in zip(found.names(), found.rows, strict=True):
            proven_by = row[-1]
            if proven_by == PENDING:
                assert name in may_be_pending, (
                    f"{heading}: {name} is pending; only {sorted(may_be_pending)} may be"
                )
                continue
            problems = _unproven(proven_by)
            assert not problems, f"{heading}: {name}: {problems}"


def test_a_proof_that_names_no_existing_test_is_caught():
    here = "tests/dialects/test_contract_table.py"
    assert _unproven(f"`{here}::test_a_proof_that_names_no_existing_test_is_caught`") == []
    assert _unproven(f"`{here}::test_renamed_away`") == [f"no def test_renamed_away in {here}"]
    assert _unproven("`tests/dialects/test_gone.py::test_x`") == ["no file tests/dialects/test_gone.py"]
    outside = "src/callgate/app.py::test_x"
    assert _unproven(f"`{outside}`") == [f"not tests/...py::test_name: {outside}"]
    assert _unproven("a test somewhere") != []
