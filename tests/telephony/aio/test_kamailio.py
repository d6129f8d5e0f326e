"""The call leg through Kamailio, a real SIP proxy from Debian, which challenges with 407 (Proxy-
Authenticate), relays to SIPp and record-routes, so that the dialog's requests come back through it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from callgate.telephony.aio.endpoint import SipEndpoint
from callgate.telephony.aio.leg import CallLeg, Outcome
from tests.telephony.aio.peers import SCENARIOS, Kamailio, Sipp

pytestmark = [pytest.mark.anyio, pytest.mark.interop]


@pytest.fixture
async def endpoint() -> AsyncIterator[SipEndpoint]:
    ep = await SipEndpoint.open("127.0.0.1", 0)
    yield ep
    ep.close()


@pytest.fixture
def proxied(tmp_path):
    """SIPp answering behind Kamailio; yields (sipp, kamailio) and stops both."""
    started = []

    def start(scenario: str, **options) -> tuple[Sipp, Kamailio]:
        sipp = Sipp(["-sf", str(SCENARIOS / scenario)], tmp_path)
        kamailio = Kamailio(tmp_path, upstream=sipp.destination, **options)
        started.append((sipp, kamailio))
        return sipp, kamailio

    yield start
    for sipp, kamailio in started:
        if sipp.proc.poll() is None:
            sipp.proc.kill()
        kamailio.stop()


def through(endpoint: SipEndpoint, kamailio: Kamailio, password: str) -> CallLeg:
    # Not flagged as an outbound proxy: the ACK and BYE reach Kamailio only because its Record-Route
    # put it in the route set (otherwise they would go to SIPp's Contact, and SIPp would fail the call
    # for a BYE without the X-Proxied mark).
    return CallLeg(
        endpoint,
        target=f"sip:+14155550100@127.0.0.1:{kamailio.port}",
        destination=kamailio.address,
        from_user="+14155550199",
        credentials=("alice", password),
    )


@pytest.mark.parametrize("algorithm", ["MD5", "SHA-256"])
async def test_a_407_is_answered_and_the_call_goes_through(endpoint, proxied, algorithm):
    sipp, kamailio = proxied("uas_behind_proxy.xml", algorithm=algorithm)
    call = through(endpoint, kamailio, "secret")
    result = await call.dial(timeout_s=10)
    assert (result.outcome, result.status) == (Outcome.ANSWERED, 200)
    assert call.dialog is not None and call.dialog.route_set  # Kamailio record-routed
    assert await call.hangup() == 200
    assert sipp.wait() == 0  # SIPp got the call, and our BYE through Kamailio by the route set


async def test_a_wrong_password_fails_with_the_proxy_s_407(endpoint, proxied):
    sipp, kamailio = proxied("uas_behind_proxy.xml")
    call = through(endpoint, kamailio, "not-the-password")
    result = await call.dial(timeout_s=10)
    assert (result.outcome, result.status) == (Outcome.FAILED, 407)
    assert result.reason == "Proxy Authentication Required"
    assert call.dialog is None
    assert sipp.proc.poll() is None  # nothing reached the far end


async def test_cancel_through_the_proxy(endpoint, proxied):
    sipp, kamailio = proxied("ring_forever.xml")
    call = through(endpoint, kamailio, "secret")
    result = await call.dial(timeout_s=1)
    assert (result.outcome, result.status) == (Outcome.NO_ANSWER, 487)
    assert sipp.wait() == 0  # the CANCEL reached SIPp through Kamailio; Kamailio ACKed the 487
