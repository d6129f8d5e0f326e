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


class Dns:
    """A small authoritative DNS server on loopback (dnspython builds and reads the messages): SRV
    records for `_sip._udp.trunk.test.`, NXDOMAIN for everything else; it counts the questions."""

    def __init__(self, srv: list[tuple[int, int, int, str]]) -> None:
        import socket
        import threading

        self.srv = srv  # (priority, weight, port, target)
        self.questions: list[str] = []
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        import dns.message
        import dns.rcode
        import dns.rdatatype
        import dns.rrset

        while True:
            try:
                data, addr = self.sock.recvfrom(4096)
            except OSError:
                return
            query = dns.message.from_wire(data)
            question = query.question[0]
            self.questions.append(f"{question.name} {dns.rdatatype.to_text(question.rdtype)}")
            response = dns.message.make_response(query)
            if str(question.name) == "_sip._udp.trunk.test." and question.rdtype == dns.rdatatype.SRV:
                records = [f"{p} {w} {port} {target}" for p, w, port, target in self.srv]
                response.answer.append(dns.rrset.from_text(question.name, 60, "IN", "SRV", *records))
            else:
                response.set_rcode(dns.rcode.NXDOMAIN)
            self.sock.sendto(response.to_wire(), addr)

    def resolver(self):
        import dns.asyncresolver

        resolver = dns.asyncresolver.Resolver(configure=False)
        resolver.nameservers = ["127.0.0.1"]
        resolver.port = self.port
        resolver.lifetime = 5
        return resolver

    def close(self) -> None:
        self.sock.close()


async def test_a_trunk_named_without_a_port_is_found_by_srv(sandbox):
    _, port = sandbox.address
    # The lowest priority wins: the sandbox (via localhost); the other record would go nowhere.
    dns_server = Dns([(10, 5, port, "localhost."), (20, 5, 9, "nowhere.invalid.")])
    trunk = Trunk("srv", "sip:trunk.test", prefixes=("+1555",))
    dialer = await Dialer.open("127.0.0.1", 0, trunks=[trunk], sandbox=("127.0.0.1", 9),
                               resolver=dns_server.resolver())  # fmt: skip
    try:
        call = await dialer.leg("+15550001234", from_user="+14155550199")
        assert call.destination == ("127.0.0.1", port) and call.target == "sip:+15550001234@trunk.test"
        assert (await call.dial(timeout_s=5)).outcome is Outcome.ANSWERED  # any number: a person
        assert await call.hangup() == 200
        busy = await dialer.leg("sip:+14155550120@trunk.test", from_user="+14155550199")
        assert (await busy.dial(timeout_s=5)).outcome is Outcome.BUSY
        assert dns_server.questions == ["_sip._udp.trunk.test. SRV"] * 2
        # A port in the URI means no SRV lookup (RFC 3263 4.2): the name's own address is used.
        direct = await dialer.leg(f"sip:+14155550100@localhost:{port}", from_user="+14155550199")
        assert direct.destination == ("127.0.0.1", port) and len(dns_server.questions) == 2
    finally:
        dialer.close()
        dns_server.close()
