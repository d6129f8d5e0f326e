"""The sandbox answered by Callgate's own call leg and by SIPp as the caller, on loopback."""

from __future__ import annotations

import asyncio
import shutil
import subprocess

import pytest

from callgate.sandbox.uas import Sandbox
from callgate.telephony.aio.endpoint import SipEndpoint
from callgate.telephony.aio.leg import CallLeg, Outcome

pytestmark = [pytest.mark.anyio, pytest.mark.interop]


@pytest.fixture
async def sandbox():
    box = await Sandbox.start("127.0.0.1", 0, time_scale=0.01)  # the plan at 1/100 speed
    yield box
    box.close()


@pytest.fixture
async def endpoint():
    ep = await SipEndpoint.open("127.0.0.1", 0)
    yield ep
    ep.close()


def leg(endpoint, sandbox, number):
    host, port = sandbox.address
    return CallLeg(
        endpoint, target=f"sip:{number}@{host}:{port}", destination=(host, port), from_user="+14155550199"
    )


async def test_a_person_answers_and_we_hang_up(endpoint, sandbox):
    call = leg(endpoint, sandbox, "+14155550100")
    result = await call.dial(timeout_s=5)
    assert (result.outcome, result.status) == (Outcome.ANSWERED, 200) and call.ringing.is_set()
    assert await call.hangup() == 200


@pytest.mark.parametrize(
    ("number", "outcome", "status"),
    [
        ("+14155550120", Outcome.BUSY, 486),
        ("+14155550140", Outcome.DECLINED, 603),
        ("+14155550150", Outcome.FAILED, 404),
        ("+14155550151", Outcome.FAILED, 503),
    ],
)
async def test_rejections(endpoint, sandbox, number, outcome, status):
    result = await leg(endpoint, sandbox, number).dial(timeout_s=5)
    assert (result.outcome, result.status) == (outcome, status)


async def test_ringing_forever_is_canceled(endpoint, sandbox):
    call = leg(endpoint, sandbox, "+14155550130")
    result = await call.dial(timeout_s=0.3)
    assert (result.outcome, result.status) == (Outcome.NO_ANSWER, 487) and call.ringing.is_set()


async def test_the_phone_hangs_up_after_five_seconds(endpoint, sandbox):
    call = leg(endpoint, sandbox, "+14155550160")
    result = await call.dial(timeout_s=5)
    assert result.outcome is Outcome.ANSWERED
    await asyncio.wait_for(call.remote_hangup.wait(), timeout=5)  # 5 s at 1/100 speed


async def test_sipp_calls_the_sandbox(sandbox, tmp_path):
    if shutil.which("sipp") is None:
        pytest.fail("sipp is not installed: `make test` installs Debian's sip-tester")
    host, port = sandbox.address
    proc = await asyncio.create_subprocess_exec(
        "sipp", "-sn", "uac", f"{host}:{port}", "-s", "+14155550100", "-i", "127.0.0.1", "-p", "0",
        "-m", "1", "-nostdin", "-timeout", "20s", "-timeout_error", cwd=tmp_path,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    _, stderr = await asyncio.wait_for(proc.communicate(), timeout=30)
    assert proc.returncode == 0, stderr.decode()[-2000:]  # INVITE, 100/180/200, ACK, BYE, 200


async def test_the_2xx_is_sent_again_until_the_ack(tmp_path):
    """RFC 3261 13.3.1.4, seen from a bare UDP socket that is slow to ACK."""
    import socket

    from callgate.telephony.sip.message import Request, Response, parse_datagram
    from callgate.telephony.sip.timers import SipTimers

    # 1/20 speed: rings 50 ms, would hang up after 6 s, long after this test.
    box = await Sandbox.start("127.0.0.1", 0, time_scale=0.05, timers=SipTimers(t1=0.05, t2=0.2))
    host, port = box.address
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.setblocking(False)
    loop = asyncio.get_running_loop()
    me = sock.getsockname()
    invite = Request(method="INVITE", uri=f"sip:+14155550100@{host}:{port}")
    for name, value in (
        ("Via", f"SIP/2.0/UDP {me[0]}:{me[1]};branch=z9hG4bKraw1;rport"),
        ("From", "<sip:raw@127.0.0.1>;tag=r1"),
        ("To", f"<sip:+14155550100@{host}:{port}>"),
        ("Call-ID", "raw-2xx"),
        ("CSeq", "1 INVITE"),
        ("Contact", f"<sip:raw@{me[0]}:{me[1]}>"),
        ("Content-Length", "0"),
    ):
        invite.headers.add(name, value)

    async def statuses(count: int) -> list[int]:
        out = []
        for _ in range(count):
            data = await asyncio.wait_for(loop.sock_recv(sock, 65535), timeout=5)
            message = parse_datagram(data)
            assert isinstance(message, Response)
            out.append(message.status)
        return out

    try:
        await loop.sock_sendto(sock, invite.serialize(), (host, port))
        assert await statuses(3) == [100, 180, 200]
        assert await statuses(2) == [200, 200]  # no ACK yet: the 2xx again, and again
        await loop.sock_sendto(sock, invite.serialize(), (host, port))  # the INVITE again
        assert 200 in await statuses(2)
        ack = Request(method="ACK", uri=f"sip:sandbox@{host}:{port}")
        ack.headers.add("Via", f"SIP/2.0/UDP {me[0]}:{me[1]};branch=z9hG4bKraw2")
        ack.headers.add("From", invite.headers.get("From") or "")
        ack.headers.add("To", f"<sip:+14155550100@{host}:{port}>;tag=x")
        ack.headers.add("Call-ID", "raw-2xx")
        ack.headers.add("CSeq", "1 ACK")
        await loop.sock_sendto(sock, ack.serialize(), (host, port))
        await asyncio.sleep(0)  # let the sandbox take the ACK
        # After the ACK: at most one 2xx already in flight, then silence.
        late = []
        try:
            while True:
                message = parse_datagram(await asyncio.wait_for(loop.sock_recv(sock, 65535), timeout=0.6))
                if isinstance(message, Response):
                    late.append(message.status)
        except TimeoutError:
            pass
        assert late in ([], [200])
    finally:
        sock.close()
        box.close()


async def test_cancelling_the_dial_task_cancels_the_call_on_the_wire(endpoint, sandbox):
    call = leg(endpoint, sandbox, "+14155550130")  # rings forever
    task = asyncio.create_task(call.dial(timeout_s=60))
    await asyncio.wait_for(call.ringing.wait(), timeout=5)
    assert len(sandbox._calls) == 1
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    for _ in range(100):  # the sandbox takes the CANCEL (synchronise on its state, bounded)
        if not sandbox._calls:
            break
        await asyncio.sleep(0.01)
    assert sandbox._calls == {}


async def test_options_and_unknown_dialogs(endpoint, sandbox):
    from callgate.telephony.sip.dialog import Dialog, DialogState
    from callgate.telephony.sip.message import Request

    host, port = sandbox.address
    options = Request(method="OPTIONS", uri=f"sip:sandbox@{host}:{port}")
    me_host, me_port = endpoint.local_address
    for name, value in (
        ("Via", f"SIP/2.0/UDP {me_host}:{me_port};branch=z9hG4bKopt9;rport"),
        ("From", "<sip:probe@127.0.0.1>;tag=p"),
        ("To", f"<sip:sandbox@{host}:{port}>"),
        ("Call-ID", "probe-1"),
        ("CSeq", "1 OPTIONS"),
        ("Content-Length", "0"),
    ):
        options.headers.add(name, value)
    queue = endpoint.send_request(options, (host, port))
    event = await asyncio.wait_for(queue.get(), timeout=5)
    assert event.response.status == 200 and event.response.to.tag  # a final response carries a To tag
    ghost = Dialog(call_id="ghost", local_tag="a", remote_tag="b", local_addr="<sip:x@127.0.0.1>",
                   remote_addr=f"<sip:sandbox@{host}:{port}>", local_seq=1,
                   remote_target=f"sip:sandbox@{host}:{port}", state=DialogState.CONFIRMED)  # fmt: skip
    from callgate.telephony.aio.leg import new_branch
    from callgate.telephony.sip.dialog import Via

    bye = ghost.request("BYE", via=Via(me_host, me_port), branch=new_branch())
    queue = endpoint.send_request(bye, (host, port))
    event = await asyncio.wait_for(queue.get(), timeout=5)
    assert event.response.status == 481


async def test_requests_inside_the_dialog_reach_the_call_leg(endpoint, sandbox):
    from dataclasses import replace

    from callgate.telephony.aio.leg import new_branch
    from callgate.telephony.sip.dialog import Via

    call = leg(endpoint, sandbox, "+14155550100")
    assert (await call.dial(timeout_s=5)).outcome is Outcome.ANSWERED
    far = next(iter(sandbox._calls.values())).dialog  # the sandbox's side of the same dialog
    via, where = Via(*sandbox.address), endpoint.local_address

    async def send(request):
        queue = sandbox.endpoint.send_request(request, where)
        return (await asyncio.wait_for(queue.get(), timeout=5)).response.status

    assert await send(far.request("INVITE", via=via, branch=new_branch())) == 488  # no media to refresh yet
    stranger = replace(far, remote_tag="someone-else")
    assert await send(stranger.request("BYE", via=via, branch=new_branch())) == 481
    assert not call.remote_hangup.is_set()
    assert await send(far.request("BYE", via=via, branch=new_branch())) == 200
    assert call.remote_hangup.is_set()


async def test_scripted_phones_run_their_steps(endpoint):
    from callgate.sandbox.plan import parse_phone_book

    book = parse_phone_book(
        {
            "phones": [
                {
                    "number": "+15005550010",
                    "steps": [{"ring": 1}, "answer", {"say": "Hi there"}, {"wait": 2}, "hangup"],
                },
                {
                    "number": "+15005550011",
                    "steps": [{"ring": 0.5}, {"reject": 480, "reason": "Out To Lunch"}],
                },
            ]
        }
    )
    box = await Sandbox.start("127.0.0.1", 0, time_scale=0.01, phones=book)
    try:
        talker = leg(endpoint, box, "+15005550010")
        result = await talker.dial(timeout_s=5)
        assert (result.outcome, result.status) == (Outcome.ANSWERED, 200) and talker.ringing.is_set()
        await asyncio.wait_for(talker.remote_hangup.wait(), timeout=5)  # its own BYE after the steps
        lunch = await leg(endpoint, box, "+15005550011").dial(timeout_s=5)
        assert (lunch.outcome, lunch.status, lunch.reason) == (Outcome.NO_ANSWER, 480, "Out To Lunch")
        # Numbers not in the book still follow the plan.
        busy = await leg(endpoint, box, "+14155550120").dial(timeout_s=5)
        assert (busy.outcome, busy.status) == (Outcome.BUSY, 486)
    finally:
        box.close()


async def test_sipp_calls_the_sandbox_over_tcp(sandbox, tmp_path):
    if shutil.which("sipp") is None:
        pytest.fail("sipp is not installed: `make test` installs Debian's sip-tester")
    host, port = sandbox.address
    proc = await asyncio.create_subprocess_exec(
        "sipp", "-sn", "uac", f"{host}:{port}", "-s", "+14155550100", "-i", "127.0.0.1", "-p", "0",
        "-t", "t1", "-m", "1", "-nostdin", "-timeout", "20s", "-timeout_error", cwd=tmp_path,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    _, stderr = await asyncio.wait_for(proc.communicate(), timeout=30)
    assert proc.returncode == 0, stderr.decode()[-2000:]


async def test_a_call_leg_over_tcp_and_the_phone_s_own_bye(sandbox):
    from callgate.telephony.aio.tcp import TcpSipEndpoint

    host, port = sandbox.address
    tcp = await TcpSipEndpoint.open_tcp("127.0.0.1", 0)
    try:
        call = CallLeg(tcp, target=f"sip:+14155550160@{host}:{port};transport=tcp", destination=(host, port),
                       from_user="+14155550199")  # fmt: skip
        result = await call.dial(timeout_s=5)
        assert (result.outcome, result.status) == (Outcome.ANSWERED, 200)
        await asyncio.wait_for(call.remote_hangup.wait(), timeout=5)  # 0160's BYE, on our connection
        second = CallLeg(tcp, target=f"sip:+14155550100@{host}:{port};transport=tcp",
                         destination=(host, port), from_user="+14155550199")  # fmt: skip
        assert (await second.dial(timeout_s=5)).outcome is Outcome.ANSWERED
        assert await second.hangup() == 200
    finally:
        tcp.close()


async def test_a_re_invite_is_answered_in_its_own_transaction(endpoint, sandbox):
    from callgate.telephony.aio.leg import new_branch
    from callgate.telephony.sip.dialog import Via

    call = leg(endpoint, sandbox, "+14155550100")
    assert (await call.dial(timeout_s=5)).outcome is Outcome.ANSWERED
    via = Via(*endpoint.local_address)
    reinvite = call.dialog.request("INVITE", via=via, branch=new_branch())
    queue = endpoint.send_request(reinvite, sandbox.address)
    while (event := await asyncio.wait_for(queue.get(), timeout=5)).response.status < 200:
        pass
    assert event.response.status == 200 and event.response.cseq.seq == reinvite.cseq.seq
    endpoint.send_request(call.dialog.ack(reinvite.cseq.seq, via=via, branch=new_branch()), sandbox.address)
    assert await call.hangup() == 200


async def test_a_cancel_must_match_the_invite_s_transaction(endpoint, sandbox):
    from callgate.telephony.sip.dialog import build_cancel

    call = leg(endpoint, sandbox, "+14155550130")  # rings forever
    task = asyncio.create_task(call.dial(timeout_s=60))
    await asyncio.wait_for(call.ringing.wait(), timeout=5)
    stray = build_cancel(call._invite)
    stray.headers.set(
        "Via", f"SIP/2.0/UDP {endpoint.local_address[0]}:{endpoint.local_address[1]};branch=z9hG4bKother"
    )
    queue = endpoint.send_request(stray, sandbox.address)
    assert (await asyncio.wait_for(queue.get(), timeout=5)).response.status == 481
    assert len(sandbox._calls) == 1  # still ringing
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_what_the_sandbox_refuses_and_what_it_says_it_allows(endpoint, sandbox):
    from callgate.telephony.aio.leg import new_branch
    from callgate.telephony.sip.message import Request

    host, port = sandbox.address
    me_host, me_port = endpoint.local_address

    async def send(method: str, *extra: tuple[str, str]):
        request = Request(method=method, uri=f"sip:+14155550100@{host}:{port}")
        for name, value in (
            ("Via", f"SIP/2.0/UDP {me_host}:{me_port};branch={new_branch()};rport"),
            ("Max-Forwards", "70"),
            ("From", "<sip:probe@127.0.0.1>;tag=p"),
            ("To", f"<sip:+14155550100@{host}:{port}>"),
            ("Call-ID", f"refuse-{method}-{len(extra)}"),
            ("CSeq", f"1 {method}"),
            ("Contact", f"<sip:probe@{me_host}:{me_port}>"),
            *extra,
            ("Content-Length", "0"),
        ):
            request.headers.set(name, value) if name == "Max-Forwards" else request.headers.add(name, value)
        queue = endpoint.send_request(request, (host, port))
        while (event := await asyncio.wait_for(queue.get(), timeout=5)).response.status < 200:
            pass
        return event.response

    rel = await send("INVITE", ("Require", "100rel, timer"))
    assert (rel.status, rel.headers.get("Unsupported")) == (420, "100rel, timer")
    options = await send("OPTIONS")
    assert options.status == 200 and "INVITE" in options.headers.get("Allow")
    assert options.headers.get("Accept") == "application/sdp"
    register = await send("REGISTER")
    assert register.status == 405 and "BYE" in register.headers.get("Allow")
    hops = await send("INVITE", ("Max-Forwards", "0"))
    assert hops.status == 483
    assert sandbox._calls == {}  # none of them became a call
