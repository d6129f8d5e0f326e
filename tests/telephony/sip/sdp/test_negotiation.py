"""Offer/answer: our offers and answers are exact, answers are read as RFC 3264 says, holds, and
announced SSRCs."""

from __future__ import annotations

import pytest

from callgate.telephony.sip.errors import LocalProtocolError, RemoteProtocolError
from callgate.telephony.sip.sdp import (
    Negotiated,
    NotAcceptable,
    RtpMap,
    SessionDescription,
    answer_offer,
    build_offer,
    negotiate_answer,
    next_version,
)
from tests.telephony.sip.sdp.samples import (
    BARESIP_OFFER,
    HEAD,
    OFFER_TEXT,
    SIPP_ANSWER,
    VIDEO_OFFER,
    sdp,
)


def test_build_offer_text():
    offer = build_offer("192.0.2.10", 40000, 4242, 1)
    assert offer.serialize() == OFFER_TEXT.encode()
    assert SessionDescription.parse(offer.serialize()) == offer


def test_build_offer_options():
    offer = build_offer(
        "2001:db8::10", 40002, 7, 3, codecs=("pcma",), dtmf_pt=None, ptime=None, direction="sendonly"
    )
    assert offer.text() == sdp(
        "v=0",
        "o=callgate 7 3 IN IP6 2001:db8::10",
        "s=callgate",
        "c=IN IP6 2001:db8::10",
        "t=0 0",
        "m=audio 40002 RTP/AVP 8",
        "a=rtpmap:8 PCMA/8000",
        "a=sendonly",
    )
    reordered = build_offer("192.0.2.10", 40000, 4242, 2, codecs=("PCMA", "PCMU"), dtmf_pt=96, ptime=30)
    assert reordered.media[0].m_line() == "m=audio 40000 RTP/AVP 8 0 96"
    assert reordered.media[0].fmtp == {96: "0-16"} and reordered.media[0].ptime == 30


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"codecs": ("G729",)}, "codecs must be distinct names among PCMU and PCMA, got ('G729',)"),
        ({"codecs": ()}, "codecs must be distinct names among PCMU and PCMA, got ()"),
        (
            {"codecs": ("PCMU", "pcmu")},
            "codecs must be distinct names among PCMU and PCMA, got ('PCMU', 'pcmu')",
        ),
        ({"dtmf_pt": 50}, "telephone-event payload type 50 is not a dynamic one (96-127)"),
        ({"ptime": 0}, "ptime 0 is not in 1-99999 ms"),
        (
            {"direction": "hold"},
            "direction must be one of sendrecv, sendonly, recvonly, inactive, got 'hold'",
        ),
        ({"port": 0}, "RTP port 0 is not in 1-65535"),
        ({"address": "not an address"}, "bad address 'not an address' in 'c=IN IP4 not an address'"),
        ({"address": "[::1]"}, "bad address '[::1]' in 'c=IN IP6 [::1]'"),
        ({"session_id": -1}, "session id -1 is negative"),
        ({"version": -1}, "bad session version -1 in 'o=callgate 4242 -1 IN IP4 192.0.2.10'"),
    ],
)
def test_build_offer_refuses_bad_arguments(kwargs, reason):
    args = {"address": "192.0.2.10", "port": 40000, "session_id": 4242, "version": 1} | kwargs
    with pytest.raises(LocalProtocolError) as info:
        build_offer(**args)
    assert str(info.value) == reason


# Answering offers.


def test_answer_to_a_softphone_offer():
    offer = SessionDescription.parse(BARESIP_OFFER)
    answer, negotiated = answer_offer(offer, "198.51.100.7", 30000, 99, 1)
    assert answer.text() == sdp(
        "v=0",
        "o=callgate 99 1 IN IP4 198.51.100.7",
        "s=callgate",
        "c=IN IP4 198.51.100.7",
        "t=0 0",
        "m=audio 30000 RTP/AVP 0 101",
        "a=rtpmap:0 PCMU/8000",
        "a=rtpmap:101 telephone-event/8000",
        "a=fmtp:101 0-16",
        "a=ptime:20",
        "a=sendrecv",
    )
    assert negotiated == Negotiated(
        codec="PCMU",
        payload_type=0,
        clock_rate=8000,
        dtmf_payload_type=101,
        remote_address="192.168.1.23",
        remote_port=10462,
        ptime=20,
        direction="sendrecv",
    )
    assert not negotiated.on_hold and negotiated.local_direction == "sendrecv"


def test_codec_is_the_first_in_the_offers_order_that_we_support():
    offer = SessionDescription.parse(sdp(*HEAD, "m=audio 5000 RTP/AVP 18 8 0", "a=rtpmap:18 G729/8000"))
    assert answer_offer(offer, "192.0.2.9", 30000, 1, 1)[1].codec == "PCMA"
    only_pcmu = answer_offer(offer, "192.0.2.9", 30000, 1, 1, supported=("PCMU",))[1]
    assert (only_pcmu.codec, only_pcmu.payload_type) == ("PCMU", 0)


def test_static_payload_types_without_rtpmap_and_dynamic_ones_by_name():
    static = SessionDescription.parse(sdp(*HEAD, "m=audio 5000 RTP/AVP 8"))
    answer, negotiated = answer_offer(static, "192.0.2.9", 30000, 1, 1)
    assert (negotiated.codec, negotiated.payload_type, negotiated.dtmf_payload_type) == ("PCMA", 8, None)
    assert answer.media[0].m_line() == "m=audio 30000 RTP/AVP 8"
    dynamic = SessionDescription.parse(sdp(*HEAD, "m=audio 5000 RTP/AVP 97", "a=rtpmap:97 pcmu/8000"))
    answer, negotiated = answer_offer(dynamic, "192.0.2.9", 30000, 1, 1)
    assert (negotiated.codec, negotiated.payload_type) == ("PCMU", 97)
    assert answer.media[0].rtpmap[97] == RtpMap(97, "PCMU", 8000)
    # An rtpmap overrides the static meaning of a number; G.711 at another rate is not G.711 for us.
    remapped = SessionDescription.parse(
        sdp(*HEAD, "m=audio 5000 RTP/AVP 0 8", "a=rtpmap:0 PCMA/16000", "a=rtpmap:8 PCMA/8000")
    )
    assert answer_offer(remapped, "192.0.2.9", 30000, 1, 1)[1].payload_type == 8


def test_telephone_event_payload_type_is_mirrored_and_ptime_copied():
    offer = SessionDescription.parse(VIDEO_OFFER)
    answer, negotiated = answer_offer(offer, "192.0.2.9", 30000, 5, 1)
    assert answer.text() == sdp(
        "v=0",
        "o=callgate 5 1 IN IP4 192.0.2.9",
        "s=callgate",
        "c=IN IP4 192.0.2.9",
        "t=0 0",
        "m=video 0 RTP/AVP 96 97",
        "m=audio 30000 RTP/AVP 8 110",
        "a=rtpmap:8 PCMA/8000",
        "a=rtpmap:110 telephone-event/8000",
        "a=fmtp:110 0-16",
        "a=ptime:30",
        "a=sendrecv",
    )
    assert (negotiated.codec, negotiated.dtmf_payload_type, negotiated.ptime) == ("PCMA", 110, 30)
    assert (negotiated.remote_address, negotiated.remote_port) == ("203.0.113.6", 7078)


def test_telephone_event_at_another_rate_is_not_ours():
    offer = SessionDescription.parse(
        sdp(*HEAD, "m=audio 5000 RTP/AVP 0 100", "a=rtpmap:100 telephone-event/48000")
    )
    answer, negotiated = answer_offer(offer, "192.0.2.9", 30000, 1, 1)
    assert negotiated.dtmf_payload_type is None and answer.media[0].formats == ("0",)


@pytest.mark.parametrize(
    ("offered", "answered", "on_hold"),
    [
        ("sendrecv", "sendrecv", False),
        ("sendonly", "recvonly", True),
        ("recvonly", "sendonly", False),
        ("inactive", "inactive", True),
    ],
)
def test_answer_direction(offered, answered, on_hold):
    offer = SessionDescription.parse(sdp(*HEAD, "m=audio 5000 RTP/AVP 0", f"a={offered}"))
    answer, negotiated = answer_offer(offer, "192.0.2.9", 30000, 1, 1)
    assert answer.media[0].direction_attribute == answered
    assert (negotiated.direction, negotiated.local_direction, negotiated.on_hold) == (
        offered,
        answered,
        on_hold,
    )
    session_level = SessionDescription.parse(sdp(*HEAD, f"a={offered}", "m=audio 5000 RTP/AVP 0"))
    assert answer_offer(session_level, "192.0.2.9", 30000, 1, 1)[0].media[0].direction_attribute == answered


def test_extra_streams_are_rejected_keeping_the_m_line_count_and_timing_is_copied():
    offer = SessionDescription.parse(
        sdp(
            "v=0",
            "o=- 1 1 IN IP4 192.0.2.1",
            "s=-",
            "c=IN IP4 192.0.2.1",
            "t=3724394400 3724398000",
            "m=audio 0 RTP/AVP 0",
            "m=audio 5000 RTP/SAVP 0",
            "m=audio 5002 RTP/AVP 18 0",
            "m=audio 5004 RTP/AVP 8",
            "m=image 5006 udptl t38",
        )
    )
    answer, negotiated = answer_offer(offer, "192.0.2.9", 30000, 1, 1)
    assert [m.m_line() for m in answer.media] == [
        "m=audio 0 RTP/AVP 0",
        "m=audio 0 RTP/SAVP 0",
        "m=audio 30000 RTP/AVP 0",
        "m=audio 0 RTP/AVP 8",
        "m=image 0 udptl t38",
    ]
    assert [(t.start, t.stop) for t in answer.timing] == [(3724394400, 3724398000)]
    assert negotiated.remote_port == 5002


@pytest.mark.parametrize(
    ("media", "supported", "reason"),
    [
        (
            ("m=audio 5000 RTP/AVP 18 9", "a=rtpmap:18 G729/8000"),
            ("PCMU", "PCMA"),
            "offer has no RTP/AVP audio stream with PCMU or PCMA",
        ),
        (("m=audio 5000 RTP/AVP 0",), ("PCMA",), "offer has no RTP/AVP audio stream with PCMA"),
        (("m=audio 0 RTP/AVP 0",), ("PCMU",), "offer has no RTP/AVP audio stream with PCMU"),
        (("m=audio 5000 RTP/SAVP 0",), ("PCMU",), "offer has no RTP/AVP audio stream with PCMU"),
        (
            ("m=image 5000 udptl t38", "a=T38FaxVersion:0"),
            ("PCMU",),
            "offer has no RTP/AVP audio stream with PCMU",
        ),
        ((), ("PCMU",), "offer has no RTP/AVP audio stream with PCMU"),
    ],
)
def test_offers_with_nothing_we_support_are_not_acceptable(media, supported, reason):
    offer = SessionDescription.parse(sdp(*HEAD, *media))
    with pytest.raises(NotAcceptable) as info:
        answer_offer(offer, "192.0.2.9", 30000, 1, 1, supported=supported)
    assert info.value.reason == reason
    assert isinstance(info.value, RemoteProtocolError)


def test_an_offer_with_no_address_for_its_audio_stream_is_refused():
    offer = SessionDescription.parse(sdp("v=0", "o=- 1 1 IN IP4 h", "s=-", "t=0 0", "m=audio 5000 RTP/AVP 0"))
    with pytest.raises(RemoteProtocolError) as info:
        answer_offer(offer, "192.0.2.9", 30000, 1, 1)
    assert info.value.reason == "offer's audio stream (m= line 1) has no c= line"


# Reading answers to our offers.


def test_negotiate_the_sipp_answer():
    offer = build_offer("127.0.0.1", 40000, 4242, 1)
    negotiated = negotiate_answer(offer, SessionDescription.parse(SIPP_ANSWER))
    assert negotiated == Negotiated(
        codec="PCMU",
        payload_type=0,
        clock_rate=8000,
        dtmf_payload_type=None,
        remote_address="127.0.0.1",
        remote_port=6000,
        ptime=20,
        direction="sendrecv",
    )


def test_negotiate_takes_the_answers_first_codec_we_offered_and_its_numbers():
    offer = build_offer("192.0.2.10", 40000, 4242, 1)
    answer = SessionDescription.parse(
        sdp(
            *HEAD,
            "m=audio 6000 RTP/AVP 18 8 0 96",
            "c=IN IP4 192.0.2.77",
            "a=rtpmap:18 G729/8000",
            "a=rtpmap:96 telephone-event/8000",
            "a=ptime:40",
        )
    )
    negotiated = negotiate_answer(offer, answer)
    assert (negotiated.codec, negotiated.payload_type, negotiated.dtmf_payload_type) == ("PCMA", 8, 96)
    assert (negotiated.remote_address, negotiated.remote_port, negotiated.ptime) == ("192.0.2.77", 6000, 40)
    # No telephone-event offered: one in the answer is not taken.
    without = build_offer("192.0.2.10", 40000, 4242, 1, dtmf_pt=None)
    assert negotiate_answer(without, answer).dtmf_payload_type is None


@pytest.mark.parametrize(
    ("answer_media", "error", "reason"),
    [
        (
            ("m=audio 6000 RTP/AVP 18",),
            RemoteProtocolError,
            "answer chose no codec we offered: 'm=audio 6000 RTP/AVP 18'"
            " against 'm=audio 40000 RTP/AVP 0 101'",
        ),
        (
            ("m=audio 6000 RTP/AVP 8",),
            RemoteProtocolError,
            "answer chose no codec we offered: 'm=audio 6000 RTP/AVP 8'"
            " against 'm=audio 40000 RTP/AVP 0 101'",
        ),
        (("m=audio 0 RTP/AVP 0",), NotAcceptable, "answer rejected the audio stream (port 0)"),
        (
            ("m=audio 6000 RTP/AVP 0", "m=video 0 RTP/AVP 96"),
            RemoteProtocolError,
            "answer has 2 m= lines, the offer had 1",
        ),
        ((), RemoteProtocolError, "answer has 0 m= lines, the offer had 1"),
        (
            ("m=video 6000 RTP/AVP 0",),
            RemoteProtocolError,
            "answer's m= line 1 is 'video', the offer's is 'audio'",
        ),
    ],
)
def test_answers_that_do_not_fit_the_offer(answer_media, error, reason):
    offer = build_offer("192.0.2.10", 40000, 4242, 1, codecs=("PCMU",))
    with pytest.raises(error) as info:
        negotiate_answer(offer, SessionDescription.parse(sdp(*HEAD, *answer_media)))
    assert info.value.reason == reason


def test_an_answer_without_an_address_is_refused():
    offer = build_offer("192.0.2.10", 40000, 4242, 1)
    answer = SessionDescription.parse(
        sdp("v=0", "o=- 1 1 IN IP4 h", "s=-", "t=0 0", "m=audio 6000 RTP/AVP 0")
    )
    with pytest.raises(RemoteProtocolError) as info:
        negotiate_answer(offer, answer)
    assert info.value.reason == "answer's audio stream (m= line 1) has no c= line"


@pytest.mark.parametrize(
    ("offered", "answered", "direction", "on_hold"),
    [
        ("sendrecv", "sendrecv", "sendrecv", False),
        ("sendrecv", "sendonly", "sendonly", True),
        ("sendrecv", "recvonly", "recvonly", False),
        ("sendrecv", "inactive", "inactive", True),
        ("sendonly", "recvonly", "recvonly", False),  # our hold: we send, the peer listens
        ("sendonly", "sendrecv", "recvonly", False),  # the peer cannot send to us: we said we won't listen
        ("inactive", "inactive", "inactive", True),
        ("recvonly", "sendonly", "sendonly", True),
    ],
)
def test_answer_direction_narrowed_to_the_offer(offered, answered, direction, on_hold):
    offer = build_offer("192.0.2.10", 40000, 4242, 1, direction=offered)
    answer = SessionDescription.parse(sdp(*HEAD, "m=audio 6000 RTP/AVP 0", f"a={answered}"))
    negotiated = negotiate_answer(offer, answer)
    assert (negotiated.direction, negotiated.on_hold) == (direction, on_hold)


def test_hold_and_resume_by_re_offer():
    # The peer called us; we answered.
    first_offer = SessionDescription.parse(BARESIP_OFFER)
    first_answer, first = answer_offer(first_offer, "192.0.2.9", 30000, 77, 1)
    assert not first.on_hold
    # The peer holds the call with a=sendonly in a re-offer (same session, next version).
    hold_offer = SessionDescription.parse(
        BARESIP_OFFER.replace("2920596521", "2920596522").replace("a=sendrecv", "a=sendonly")
    )
    hold_answer, held = answer_offer(hold_offer, "192.0.2.9", 30000, 77, next_version(first_answer))
    assert held.on_hold and held.local_direction == "recvonly"
    assert hold_answer.origin.version == 2 and hold_answer.media[0].direction_attribute == "recvonly"
    # The old way: c=0.0.0.0, direction left alone; we answer sendrecv but know it is held.
    old_hold = SessionDescription.parse(BARESIP_OFFER.replace("c=IN IP4 192.168.1.23", "c=IN IP4 0.0.0.0"))
    old_answer, old = answer_offer(old_hold, "192.0.2.9", 30000, 77, 3)
    assert (
        old.on_hold
        and old.remote_address == "0.0.0.0"
        and old_answer.media[0].direction_attribute == "sendrecv"
    )
    # Resumed.
    resumed = answer_offer(first_offer, "192.0.2.9", 30000, 77, 4)[1]
    assert not resumed.on_hold and resumed == first


def test_we_hold_and_resume_by_re_offer():
    offer = build_offer("192.0.2.10", 40000, 4242, 1)
    assert not negotiate_answer(offer, SessionDescription.parse(SIPP_ANSWER)).on_hold
    hold = build_offer("192.0.2.10", 40000, 4242, next_version(offer), direction="inactive")
    assert hold.origin.session_id == offer.origin.session_id and hold.origin.version == 2
    held = negotiate_answer(
        hold, SessionDescription.parse(SIPP_ANSWER.replace("t=0 0", "t=0 0\r\na=inactive"))
    )
    assert held.on_hold and held.direction == "inactive"
    zero = SessionDescription.parse(SIPP_ANSWER.replace("c=IN IP4 127.0.0.1", "c=IN IP4 0.0.0.0"))
    assert negotiate_answer(build_offer("192.0.2.10", 40000, 4242, 3), zero).on_hold
    back = build_offer("192.0.2.10", 40000, 4242, next_version(hold))
    resumed = negotiate_answer(back, SessionDescription.parse(SIPP_ANSWER))
    assert not resumed.on_hold and resumed.direction == "sendrecv"


# SSRCs announced in the SDP (RFC 5576), for peers that share one port among calls.


def test_an_announced_ssrc_is_written_and_read_back_on_both_sides():
    offer = build_offer("192.0.2.10", 40000, 4242, 1, ssrc=0xDEADBEEF, cname="callgate-1@callgate")
    assert offer.text().endswith("a=sendrecv\r\na=ssrc:3735928559 cname:callgate-1@callgate\r\n")
    answer, at_callee = answer_offer(
        SessionDescription.parse(offer.serialize()), "192.0.2.20", 30000, 9, 1, ssrc=7
    )
    assert at_callee.remote_ssrc == 0xDEADBEEF
    assert "a=ssrc:7 cname:callgate\r\n" in answer.text()
    assert negotiate_answer(offer, SessionDescription.parse(answer.serialize())).remote_ssrc == 7
    plain, negotiated = answer_offer(SessionDescription.parse(BARESIP_OFFER), "192.0.2.20", 30000, 9, 1)
    assert "a=ssrc" not in plain.text() and negotiated.remote_ssrc is None


@pytest.mark.parametrize("value", ["x1234 cname:a", "4294967296 cname:a", "\u00b2 cname:a", "-5 cname:a"])
def test_a_malformed_announced_ssrc_is_ignored(value):
    text = BARESIP_OFFER.replace("a=sendrecv\r\n", f"a=sendrecv\r\na=ssrc:{value}\r\n")
    offer = SessionDescription.parse(text)
    assert offer.media[0].attribute("ssrc") == value
    _, negotiated = answer_offer(offer, "192.0.2.20", 30000, 9, 1)
    assert negotiated.remote_ssrc is None and negotiated.codec == "PCMU"


def test_an_ssrc_we_announce_must_be_32_bit():
    with pytest.raises(LocalProtocolError, match="SSRC"):
        build_offer("192.0.2.10", 40000, 4242, 1, ssrc=1 << 32)
