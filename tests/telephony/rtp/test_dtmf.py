"""RFC 4733 events: the payload, what the sender puts on each tick, what the receiver reports."""

import pytest

from callgate.telephony.rtp.dtmf import DtmfEvent, DtmfReceiver, DtmfSender
from callgate.telephony.rtp.errors import PacketError
from tests.telephony.rtp.golden import bad, good, vector


@pytest.mark.parametrize("data", good("dtmf"))
def test_good_vectors_round_trip(data):
    assert DtmfEvent.parse(data).serialize() == data


@pytest.mark.parametrize(("data", "reason"), bad("dtmf"))
def test_bad_vectors_give_the_exact_reason(data, reason):
    with pytest.raises(PacketError) as caught:
        DtmfEvent.parse(data)
    assert caught.value.reason == reason


def test_payload_golden_bytes():
    # Event 11 (#), E=1, volume 10, duration 800 (100 ms at 8 kHz): RFC 4733 2.3.
    event = DtmfEvent(event=11, end=True, volume=10, duration=800)
    assert event.serialize() == vector("dtmf/good/hash_end.bin")
    assert DtmfEvent.parse(vector("dtmf/good/hash_end.bin")) == event and event.digit == "#"
    assert DtmfEvent.parse(vector("dtmf/good/d.bin")).digit == "D"
    assert DtmfEvent.parse(vector("dtmf/good/flash.bin")).digit is None  # 16: flash, not a digit


def run(sender: DtmfSender, start: int = 1000) -> list[list | None]:
    ticks, ts = [], start
    while (out := sender.tick(ts)) is not None:
        ticks.append(out)
        ts += 160
    return ticks


def test_one_digit_tick_by_tick():
    ticks = run(DtmfSender("5", tone_frames=5, gap_frames=3, end_repeats=3))
    assert len(ticks) == 5 + 3
    tone, gap = ticks[:5], ticks[5:]
    assert gap == [[], [], []]
    events = [[DtmfEvent.parse(p.payload) for p in tick] for tick in tone]
    assert [len(e) for e in events] == [1, 1, 1, 1, 3]  # the end three times
    assert [e[0].duration for e in events] == [160, 320, 480, 640, 800]
    assert [e[0].end for e in events] == [False] * 4 + [True]
    assert {p.timestamp for tick in tone for p in tick} == {1000}  # the event's start, throughout
    assert [p.marker for tick in tone for p in tick] == [True] + [False] * 6
    assert all(e.event == 5 for tick in events for e in tick)


def test_pauses_and_several_digits():
    ticks = run(DtmfSender("1w2W#", tone_frames=2, gap_frames=1, end_repeats=1))
    kinds = ["event" if t else "quiet" for t in ticks]
    # 1 (2 frames) gap(1) w(25) 2 (2) gap(1) W(50) # (2) gap(1)
    assert kinds == ["event"] * 2 + ["quiet"] * 26 + ["event"] * 2 + ["quiet"] * 51 + ["event"] * 2 + [
        "quiet"
    ]
    starts = [t[0].timestamp for t in ticks if t and t[0].marker]
    assert starts == [1000, 1000 + 28 * 160, 1000 + 81 * 160]


def test_bad_digits_are_refused():
    with pytest.raises(ValueError, match="cannot press 'x'"):
        DtmfSender("12x")


def test_the_receiver_reports_each_digit_once_in_order():
    receiver = DtmfReceiver()
    got = []
    ts = 0
    for tick in run(DtmfSender("1234#", tone_frames=3, gap_frames=2, end_repeats=3), start=0):
        for packet in tick:
            if (digit := receiver.on_packet(packet.timestamp, packet.payload)) is not None:
                got.append(digit)
        ts += 160
    assert "".join(got) == "1234#"


def test_the_receiver_survives_losses_and_repeats():
    receiver = DtmfReceiver()
    start_lost = DtmfEvent(7, False, 10, 320).serialize()  # the first packet (marker) was lost
    end = DtmfEvent(7, True, 10, 800).serialize()
    assert receiver.on_packet(4000, start_lost) == "7"
    assert receiver.on_packet(4000, end) is None
    assert receiver.on_packet(4000, end) is None  # repeated end
    # Only the end packets of the next event arrive: still one digit.
    nine = DtmfEvent(9, True, 10, 800).serialize()
    assert receiver.on_packet(8000, nine) == "9"
    assert receiver.on_packet(8000, nine) is None
    # The same digit pressed again is a new event (a new timestamp).
    assert receiver.on_packet(9600, nine) == "9"
