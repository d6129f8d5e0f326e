"""Thousands of mutated messages: each is parsed or refused with RemoteProtocolError, nothing else."""

from __future__ import annotations

import random
from pathlib import Path

from callgate.telephony.sip.errors import RemoteProtocolError
from callgate.telephony.sip.message import StreamParser, parse_datagram
from tests.fuzz import Mutator

SEEDS = [p.read_bytes() for p in sorted((Path(__file__).parent / "data" / "good").glob("*.sip"))]
INTERESTING = [
    *(bytes([c]) for c in b':;,<>"\\@[]= \t\x00\xff%?0'),
    b"\r\n",
    "²".encode(),
    "١".encode(),
    b"9999999999",
    b"SIP/2.0",
    b"Content-Length: 5\r\n",
    b"l: 1\r\n",
]


mutate = Mutator(INTERESTING, max_cut=40, max_copy=60)


def test_mutated_datagrams_parse_or_fail_cleanly():
    rng = random.Random(3261)
    parsed = refused = 0
    for i in range(6000):
        data = mutate(rng, SEEDS[i % len(SEEDS)])
        try:
            message = parse_datagram(data)
        except RemoteProtocolError as exc:
            assert exc.reason
            refused += 1
            continue
        parsed += 1
        message.serialize()  # whatever parsed can be written back out
    assert parsed > 300 and refused > 3000  # both paths really ran


def test_mutated_streams_parse_or_fail_cleanly():
    rng = random.Random(17)
    for i in range(1500):
        stream = mutate(rng, SEEDS[i % len(SEEDS)] + SEEDS[(i + 1) % len(SEEDS)])
        parser = StreamParser()
        try:
            for start in range(0, len(stream), 97):
                parser.feed(stream[start : start + 97])
        except RemoteProtocolError:
            pass


def test_mutated_responses_and_timers_never_break_a_transaction():
    from callgate.telephony.sip.message import Request, Response
    from callgate.telephony.sip.timers import SipTimers
    from callgate.telephony.sip.transaction import InviteClientTransaction, NonInviteClientTransaction

    rng = random.Random(4475)
    invite = parse_datagram(SEEDS[[i for i, s in enumerate(SEEDS) if s.startswith(b"INVITE")][0]])
    assert isinstance(invite, Request)
    responses = [m for m in (parse_datagram(s) for s in SEEDS) if isinstance(m, Response)]
    for round_ in range(300):
        cls = InviteClientTransaction if round_ % 2 else NonInviteClientTransaction
        tx = cls(invite, reliable=bool(round_ % 3), timers=SipTimers(), now=0.0)
        now = 0.0
        for _ in range(30):
            now += rng.random() * 5
            if rng.random() < 0.5:
                data = mutate(rng, rng.choice(responses).serialize())
                try:
                    message = parse_datagram(data)
                except RemoteProtocolError:
                    continue
                if isinstance(message, Response):
                    tx.receive(message, now)
            else:
                tx.handle_timer(now)
            tx.datagrams_to_send()
            while tx.next_event() is not None:
                pass
        assert tx.get_timer() is None or tx.get_timer() >= 0
