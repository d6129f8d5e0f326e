"""The call leg against SIPp, a real SIP peer from Debian (sip-tester), on loopback."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from callgate.telephony.aio.dialer import Dialer
from callgate.telephony.aio.endpoint import SipEndpoint
from callgate.telephony.aio.leg import CallLeg, Outcome
from tests.telephony.aio.peers import SCENARIOS, Sipp, free_tcp_port

pytestmark = [pytest.mark.anyio, pytest.mark.interop]


@pytest.fixture
async def endpoint() -> Iterator[SipEndpoint]:
    ep = await SipEndpoint.open("127.0.0.1", 0)
    yield ep
    ep.close()


def leg(endpoint: SipEndpoint, sipp: Sipp) -> CallLeg:
    return CallLeg(endpoint, target=sipp.target, destination=sipp.destination, from_user="+14155550199")


async def test_answered_call_then_our_bye(endpoint, tmp_path):
    sipp = Sipp(["-sn", "uas"], tmp_path)
    call = leg(endpoint, sipp)
    result = await call.dial(timeout_s=10)
    assert (result.outcome, result.status) == (Outcome.ANSWERED, 200)
    assert call.ringing.is_set()
    assert await call.hangup() == 200
    assert sipp.wait() == 0  # SIPp saw INVITE, ACK and BYE as its scenario expects


async def test_busy(endpoint, tmp_path):
    sipp = Sipp(["-sf", str(SCENARIOS / "busy.xml")], tmp_path)
    result = await leg(endpoint, sipp).dial(timeout_s=10)
    assert (result.outcome, result.status, result.reason) == (Outcome.BUSY, 486, "Busy Here")
    assert sipp.wait() == 0  # and our transaction ACKed the 486


async def test_no_answer_is_canceled_at_the_timeout(endpoint, tmp_path):
    sipp = Sipp(["-sf", str(SCENARIOS / "ring_forever.xml")], tmp_path)
    call = leg(endpoint, sipp)
    result = await call.dial(timeout_s=1)
    assert (result.outcome, result.status) == (Outcome.NO_ANSWER, 487)
    assert call.ringing.is_set()
    assert sipp.wait() == 0  # CANCEL, then ACK of the 487


async def test_declined(endpoint, tmp_path):
    sipp = Sipp(["-sf", str(SCENARIOS / "decline.xml")], tmp_path)
    result = await leg(endpoint, sipp).dial(timeout_s=10)
    assert (result.outcome, result.status) == (Outcome.DECLINED, 603)
    assert sipp.wait() == 0


async def test_digest_challenge_answered_and_verified_by_sipp(endpoint, tmp_path):
    sipp = Sipp(["-sf", str(SCENARIOS / "digest_401.xml")], tmp_path)
    call = leg(endpoint, sipp)
    call.credentials = ("alice", "secret")
    result = await call.dial(timeout_s=10)
    assert (result.outcome, result.status) == (Outcome.ANSWERED, 200)
    assert await call.hangup() == 200
    assert sipp.wait() == 0


async def test_a_wrong_password_fails_cleanly(endpoint, tmp_path):
    sipp = Sipp(["-sf", str(SCENARIOS / "digest_401.xml")], tmp_path)
    call = leg(endpoint, sipp)
    call.credentials = ("alice", "not-the-password")
    result = await call.dial(timeout_s=10)
    assert (result.outcome, result.status) == (Outcome.FAILED, 403)
    assert sipp.wait() == 0


async def test_without_credentials_a_challenge_is_the_final_answer(endpoint, tmp_path):
    sipp = Sipp(["-sf", str(SCENARIOS / "digest_401.xml")], tmp_path)
    result = await leg(endpoint, sipp).dial(timeout_s=10)
    assert (result.outcome, result.status) == (Outcome.FAILED, 401)
    sipp.proc.kill()  # its scenario waits for a second INVITE that never comes
    sipp.wait()


async def test_over_tcp(tmp_path):
    import asyncio

    from callgate.telephony.aio.tcp import TcpSipEndpoint

    sipp = Sipp(["-sn", "uas"], tmp_path, tcp=True)
    endpoint = await TcpSipEndpoint.open_tcp("127.0.0.1", 0)
    try:
        for _ in range(50):  # SIPp needs a moment to listen; a refused connection is retried
            with socket.socket() as probe:
                if probe.connect_ex(sipp.destination) == 0:
                    break
            await asyncio.sleep(0.05)
        call = CallLeg(endpoint, target=f"{sipp.target};transport=tcp", destination=sipp.destination,
                       from_user="+14155550199")  # fmt: skip
        result = await call.dial(timeout_s=10)
        assert (result.outcome, result.status) == (Outcome.ANSWERED, 200)
        assert await call.hangup() == 200
        assert sipp.wait() == 0
    finally:
        endpoint.close()


async def test_an_answer_that_crosses_our_cancel_is_hung_up(endpoint, tmp_path):
    sipp = Sipp(["-sf", str(SCENARIOS / "answer_after_cancel.xml")], tmp_path)
    call = leg(endpoint, sipp)
    result = await call.dial(timeout_s=0.5)
    assert (result.outcome, result.status) == (Outcome.NO_ANSWER, 487)
    assert call.dialog is None  # nothing for the engine to hang up
    assert await sipp.finished() == 0  # SIPp got the ACK of its 2xx, then our BYE


async def test_caller_names_and_ids_are_escaped_on_the_wire(tmp_path):
    """A caller name with quotes, a backslash and a line break, and a caller id with a space, make a
    well-formed From that SIPp accepts (and our own parser reads back)."""
    from callgate.telephony.sip.message import parse_datagram
    from callgate.telephony.sip.uri import NameAddress

    ep = await SipEndpoint.open("127.0.0.1", 0)
    try:
        sipp = Sipp(["-sn", "uas"], tmp_path)
        call = CallLeg(ep, target=sipp.target, destination=sipp.destination, from_user="Front Desk",
                       caller_name='Bob "the\\builder"\r\nX-Evil: 1')  # fmt: skip
        result = await call.dial(timeout_s=10)
        assert result.outcome is Outcome.ANSWERED
        sent = parse_datagram(call._invite.serialize())
        from_ = NameAddress.parse(sent.headers.get("From"))
        assert from_.display_name == 'Bob "the\\builder" X-Evil: 1'
        assert from_.uri.user == "Front%20Desk" and sent.headers.get("X-Evil") is None
        assert await call.hangup() == 200
        assert sipp.wait() == 0
    finally:
        ep.close()


async def test_a_refused_tcp_connection_fails_the_call_at_once():
    """17.1.4: a transport error ends the INVITE transaction now (a 503 for the caller), not after
    Timer B's 32 s; the wait below is only a bound."""
    import asyncio

    from callgate.telephony.aio.tcp import TcpSipEndpoint

    nobody = free_tcp_port()  # bound and released: nothing listens there
    tcp = await TcpSipEndpoint.open_tcp("127.0.0.1", 0)
    try:
        call = CallLeg(tcp, target=f"sip:bob@127.0.0.1:{nobody};transport=tcp",
                       destination=("127.0.0.1", nobody), from_user="+14155550199")  # fmt: skip
        result = await asyncio.wait_for(call.dial(timeout_s=30), timeout=10)
        assert (result.outcome, result.status) == (Outcome.FAILED, 503)
        assert result.reason.startswith("Service Unavailable (") and call.dialog is None
    finally:
        tcp.close()


async def test_idle_tcp_connections_are_closed(tmp_path):
    import asyncio

    from callgate.telephony.aio.tcp import TcpSipEndpoint

    sipp = Sipp(["-sn", "uas"], tmp_path, tcp=True)
    tcp = await TcpSipEndpoint.open_tcp("127.0.0.1", 0, idle_timeout=0.2)
    try:
        for _ in range(50):  # SIPp needs a moment to listen
            with socket.socket() as probe:
                if probe.connect_ex(sipp.destination) == 0:
                    break
            await asyncio.sleep(0.05)
        call = CallLeg(tcp, target=f"{sipp.target};transport=tcp", destination=sipp.destination,
                       from_user="+14155550199")  # fmt: skip
        assert (await call.dial(timeout_s=10)).outcome is Outcome.ANSWERED
        assert await call.hangup() == 200
        assert sipp.wait() == 0
        connection = tcp.connections.get(sipp.destination)
        if connection is not None:  # SIPp may have closed it first
            closed = asyncio.get_running_loop().create_future()
            lost = connection.connection_lost

            def on_lost(exc):
                lost(exc)
                closed.set_result(None)

            connection.connection_lost = on_lost
            await asyncio.wait_for(closed, timeout=5)
        assert sipp.destination not in tcp.connections
    finally:
        tcp.close()


@pytest.mark.parametrize("transport", ["udp", "tcp"])
async def test_the_engine_gives_requests_no_call_claims_their_final_responses(tmp_path, transport):
    """SIPp sends the engine's SIP port (the `Dialer`'s endpoints, as `callgate serve` opens them) an
    OPTIONS, a BYE and a CANCEL of nothing, an INVITE (ACKing the 480), a MESSAGE and an unknown
    method, and expects each final response (tests/telephony/aio/scenarios/uac_unclaimed.xml)."""
    dialer = await Dialer.open("127.0.0.1", 0)
    try:
        endpoint = dialer.udp if transport == "udp" else dialer.tcp
        assert endpoint is not None
        host, port = endpoint.local_address
        scenario = ["-sf", str(SCENARIOS / "uac_unclaimed.xml"), f"{host}:{port}"]
        sipp = Sipp(scenario, tmp_path, tcp=transport == "tcp")
        assert await sipp.finished() == 0, _sipp_errors(tmp_path)
        # Every transaction has had its answer: what is left only waits out Timer J, or I (the
        # ACKed 480), none of them for a user.
        assert all(tx.answered for tx, _ in endpoint.layer._servers.values())
    finally:
        dialer.close()


async def test_the_engine_answers_a_malformed_request_400(tmp_path):
    dialer = await Dialer.open("127.0.0.1", 0)
    try:
        host, port = dialer.udp.local_address
        scenario = ["-sf", str(SCENARIOS / "uac_malformed.xml"), f"{host}:{port}"]
        assert await Sipp(scenario, tmp_path).finished() == 0, _sipp_errors(tmp_path)
        assert dialer.udp.layer._servers == {}  # a stateless answer: nothing kept
    finally:
        dialer.close()


def _sipp_errors(workdir) -> str:
    return "\n".join(path.read_text(errors="replace")[-3000:] for path in workdir.glob("*_errors.log"))
