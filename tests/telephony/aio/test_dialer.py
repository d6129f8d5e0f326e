"""The dialer: routing a To to the sandbox, a trunk (Kamailio challenging for the trunk's credentials)
or a sip: URI (SIPp over TCP), with names resolved and what cannot be reached refused."""

from __future__ import annotations

import pytest

from callgate.sandbox.uas import Sandbox
from callgate.telephony.aio.dialer import Dialer
from callgate.telephony.aio.leg import Outcome
from callgate.telephony.routing import Trunk, Unroutable
from tests.telephony.aio.peers import SCENARIOS, Kamailio, Sipp

pytestmark = [pytest.mark.anyio, pytest.mark.interop]


@pytest.fixture
async def sandbox():
    box = await Sandbox.start("127.0.0.1", 0, time_scale=0.01)
    yield box
    box.close()


async def test_numbers_without_a_trunk_ring_the_sandbox(sandbox):
    dialer = await Dialer.open("127.0.0.1", 0, sandbox=sandbox.address)
    try:
        busy = await (await dialer.leg("+14155550120", from_user="+14155550199")).dial(timeout_s=5)
        assert (busy.outcome, busy.status) == (Outcome.BUSY, 486)
        person = await dialer.leg("+14155550100", from_user="+14155550199")
        assert person.target == f"sip:+14155550100@{sandbox.address[0]}:{sandbox.address[1]}"
        assert (await person.dial(timeout_s=5)).outcome is Outcome.ANSWERED
        assert await person.hangup() == 200
    finally:
        dialer.close()


async def test_a_trunk_takes_its_prefix_with_its_credentials_through_its_proxy(sandbox, tmp_path):
    sipp = Sipp(["-sf", str(SCENARIOS / "uas_behind_proxy.xml")], tmp_path)
    kamailio = Kamailio(tmp_path, upstream=sipp.destination)
    # The proxy is named, not numbered: "localhost" is resolved.
    trunk = Trunk("carrier", f"sip:localhost:{kamailio.port}", prefixes=("+44",), username="alice",
                  password="secret")  # fmt: skip
    dialer = await Dialer.open("127.0.0.1", 0, trunks=[trunk], sandbox=sandbox.address)
    try:
        call = await dialer.leg("+442071838750", from_user="+14155550199")
        assert call.outbound_proxy and call.destination == kamailio.address
        result = await call.dial(timeout_s=10)
        assert (result.outcome, result.status) == (Outcome.ANSWERED, 200)
        assert await call.hangup() == 200
        assert sipp.wait() == 0
    finally:
        dialer.close()
        kamailio.stop()


async def test_sip_uris_go_direct_over_their_transport(tmp_path):
    sipp = Sipp(["-sn", "uas"], tmp_path, tcp=True)
    dialer = await Dialer.open("127.0.0.1", 0)
    try:
        import asyncio
        import socket

        for _ in range(50):  # SIPp needs a moment to listen
            with socket.socket() as probe:
                if probe.connect_ex(sipp.destination) == 0:
                    break
            await asyncio.sleep(0.05)
        call = await dialer.leg(f"{sipp.target};transport=tcp", from_user="+14155550199")
        assert call.endpoint is dialer.tcp and not call.outbound_proxy
        assert (await call.dial(timeout_s=10)).outcome is Outcome.ANSWERED
        assert await call.hangup() == 200
        assert sipp.wait() == 0
    finally:
        dialer.close()


@pytest.mark.parametrize(
    ("to", "message"),
    [
        ("client:alice", "client:alice: no route (client identities are not reachable over SIP yet)"),
        ("sips:bob@127.0.0.1", "sips:bob@127.0.0.1: transport tls is not available"),
    ],
)
async def test_what_cannot_be_reached_is_unroutable(to, message):
    dialer = await Dialer.open("127.0.0.1", 0)
    try:
        with pytest.raises(Unroutable) as info:
            await dialer.leg(to, from_user="+14155550199")
        assert str(info.value).startswith(message)
    finally:
        dialer.close()
