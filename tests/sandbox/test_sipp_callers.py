"""SIPp as the caller, with scenarios of its own, against rows of the sandbox's number plan."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from pathlib import Path

import pytest

from callgate.sandbox.uas import Sandbox

pytestmark = [pytest.mark.anyio, pytest.mark.interop]
SCENARIOS = Path(__file__).parent / "scenarios"


@pytest.fixture
async def sandbox():
    box = await Sandbox.start("127.0.0.1", 0, time_scale=0.1)  # the plan at 1/10 speed
    yield box
    box.close()


async def sipp(sandbox: Sandbox, workdir: Path, scenario: list[str], number: str, *extra: str) -> int:
    if shutil.which("sipp") is None:
        pytest.fail("sipp is not installed: `make test` installs Debian's sip-tester")
    host, port = sandbox.address
    proc = await asyncio.create_subprocess_exec(
        "sipp", *scenario, f"{host}:{port}", "-s", number, "-i", "127.0.0.1", "-p", "0", "-m", "1",
        "-nostdin", "-timeout", "30s", "-timeout_error", "-trace_err", *extra, cwd=workdir,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    return await asyncio.wait_for(proc.wait(), timeout=45)


async def test_0160_answers_then_hangs_up_on_sipp(sandbox, tmp_path):
    scenario = ["-sf", str(SCENARIOS / "uac_waits_for_bye.xml"), "-mi", "127.0.0.1", "-rtp_echo"]
    assert await sipp(sandbox, tmp_path, scenario, "+14155550160") == 0


async def test_0130_rings_until_sipp_cancels(sandbox, tmp_path):
    assert await sipp(sandbox, tmp_path, ["-sf", str(SCENARIOS / "uac_cancels.xml")], "+14155550130") == 0
    assert sandbox._calls == {}


async def test_0120_0140_0150_0151_refuse_sipp(sandbox, tmp_path):
    # SIPp's built-in caller expects an answer: each refusal fails its call (exit 1).
    for number in ("+14155550120", "+14155550140", "+14155550150", "+14155550151"):
        assert await sipp(sandbox, tmp_path, ["-sn", "uac"], number) == 1
    assert sandbox._calls == {}


async def test_0100_over_tcp_with_sipp_s_own_caller(sandbox, tmp_path):
    assert await sipp(sandbox, tmp_path, ["-sn", "uac"], "+14155550100", "-t", "t1") == 0


async def test_an_rfc_2543_caller_without_branches(sandbox, tmp_path):
    """The same call from an old element whose Vias carry no z9hG4bK branch (RFC 3261 17.2.3)."""
    text = (SCENARIOS / "uac_waits_for_bye.xml").read_text().replace(";branch=[branch]", "")
    scenario = tmp_path / "uac_2543.xml"
    scenario.write_text(text)
    assert await sipp(sandbox, tmp_path, ["-sf", str(scenario), "-mi", "127.0.0.1"], "+14155550160") == 0


async def test_requests_of_no_call_get_their_final_responses(sandbox, tmp_path):
    """OPTIONS 200, a BYE and a CANCEL of nothing 481; a malformed request 400 (the endpoint the
    sandbox shares with the engine answers it)."""
    assert await sipp(sandbox, tmp_path, ["-sf", str(SCENARIOS / "uac_strays.xml")], "+14155550100") == 0
    malformed = Path(__file__).parents[1] / "telephony" / "aio" / "scenarios" / "uac_malformed.xml"
    assert await sipp(sandbox, tmp_path, ["-sf", str(malformed)], "+14155550100") == 0
    assert sandbox._calls == {}
