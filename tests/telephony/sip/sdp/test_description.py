"""SDP descriptions: real-world bodies round-trip, the values check themselves, bad input gives the
exact reason, and mutated bodies parse or fail with RemoteProtocolError only."""

from __future__ import annotations

import random

import pytest

from callgate.telephony.sip.errors import LocalProtocolError, RemoteProtocolError
from callgate.telephony.sip.sdp import (
    Attribute,
    Connection,
    MediaDescription,
    Origin,
    RtpMap,
    SessionDescription,
    answer_offer,
    next_version,
)
from tests.fuzz import Mutator
from tests.telephony.sip.sdp.samples import (
    BARESIP_OFFER,
    EVERYTHING,
    HEAD,
    OFFER_TEXT,
    SIPP_ANSWER,
    VIDEO_OFFER,
    sdp,
)


@pytest.mark.parametrize("text", [SIPP_ANSWER, BARESIP_OFFER, VIDEO_OFFER, EVERYTHING])
def test_real_world_sdp_round_trips(text):
    parsed = SessionDescription.parse(text.encode())
    assert parsed.text() == text
    assert parsed.serialize() == text.encode()
    assert SessionDescription.parse(text) == parsed


def test_lf_only_blank_lines_and_no_final_newline_are_accepted_and_written_with_crlf():
    sloppy = SIPP_ANSWER.replace("\r\n", "\n").replace("s=-\n", "s=-\n\n").rstrip("\n")
    assert SessionDescription.parse(sloppy).text() == SIPP_ANSWER


def test_fields_separated_by_runs_of_blanks_are_normalised():
    sloppy = SIPP_ANSWER.replace("IN IP4 127.0.0.1\r\nt", "IN  IP4\t127.0.0.1\r\nt").replace(
        "m=audio 6000", "m=audio  6000"
    )
    assert SessionDescription.parse(sloppy).text() == SIPP_ANSWER


def test_session_parts():
    sd = SessionDescription.parse(SIPP_ANSWER)
    assert sd.origin == Origin("user1", "53655765", 2353687637, "127.0.0.1")
    assert sd.name == "-" and sd.connection == Connection("127.0.0.1")
    assert [(t.start, t.stop) for t in sd.timing] == [(0, 0)]
    (audio,) = sd.media
    assert (audio.media, audio.port, audio.protocol, audio.formats) == ("audio", 6000, "RTP/AVP", ("0",))
    assert next_version(sd) == 2353687638


def test_audio_view_of_a_softphone_offer():
    sd = SessionDescription.parse(BARESIP_OFFER)
    (audio,) = sd.media
    assert audio.payload_types == (96, 0, 8, 101)
    assert audio.rtpmap == {
        96: RtpMap(96, "opus", 48000, 2),
        0: RtpMap(0, "PCMU", 8000),
        8: RtpMap(8, "PCMA", 8000),
        101: RtpMap(101, "telephone-event", 8000),
    }
    assert audio.fmtp == {96: "stereo=1;sprop-stereo=1", 101: "0-15"}
    assert audio.ptime == 20 and audio.direction_attribute == "sendrecv"
    assert audio.other == (("b", "AS:106"),)
    assert audio.attribute("label") == "1" and audio.attribute("rtcp-rsize") is None
    assert sd.connection_of(audio) == Connection("192.168.1.23")


def test_media_level_connection_and_direction_override_the_session_level():
    sd = SessionDescription.parse(VIDEO_OFFER)
    video, audio = sd.media
    assert sd.connection_of(video) == Connection("203.0.113.5")
    assert sd.connection_of(audio) == Connection("203.0.113.6")
    assert video.payload_types == (96, 97) and audio.ptime == 30 and video.ptime is None
    held = SessionDescription.parse(
        sdp(*HEAD, "a=sendonly", "m=audio 5000 RTP/AVP 0", "m=audio 5002 RTP/AVP 0", "a=inactive")
    )
    assert [held.direction_of(m) for m in held.media] == ["sendonly", "inactive"]
    assert SessionDescription.parse(sdp(*HEAD, "m=audio 5000 RTP/AVP 0")).direction_of(held.media[0]) == (
        "sendrecv"
    )


def test_static_payload_types_need_no_rtpmap_and_other_media_have_no_payload_types():
    sd = SessionDescription.parse(EVERYTHING)
    audio, bfcp, t38 = sd.media
    assert audio.encoding_of(0) == RtpMap(0, "PCMU", 8000) and audio.encoding_of(96) is None
    assert audio.port_count == 2 and audio.connection == Connection("ff1e:db8::9/3", "IP6")
    assert audio.connection is not None and audio.connection.host == "ff1e:db8::9"
    assert bfcp.formats == ("*",) and bfcp.payload_types == () and bfcp.rtpmap == {}
    assert t38.rejected and t38.formats == ("t38",)
    assert sd.direction_attribute == "recvonly"
    assert [t.repeats for t in sd.timing] == [("7d 1h 0 25h",), ()]


@pytest.mark.parametrize(
    ("build", "reason"),
    [
        (lambda: Connection("192.0.2.1", "IP5"), "unknown address type 'IP5' in 'c=IN IP5 192.0.2.1'"),
        (lambda: Attribute("two words"), "bad attribute name 'two words' in 'a=two words'"),
        (
            lambda: Attribute("tool", "x\r\nm=video 1 RTP/AVP 0"),
            "the value of a=tool holds a CR, LF or NUL: 'x\\r\\nm=video 1 RTP/AVP 0'",
        ),
        (
            lambda: MediaDescription("audio", 5000, "RTP/AVP", ("300",)),
            "bad payload type '300' in 'm=audio 5000 RTP/AVP 300'",
        ),
        (lambda: MediaDescription("audio", 5000, "RTP/AVP", ()), "no formats in 'm=audio 5000 RTP/AVP'"),
        (
            lambda: MediaDescription("audio", 5000, "RTP/AVP", ("0",), other=(("c", "IN IP4 1.2.3.4"),)),
            "a c= line cannot be kept as an uninterpreted media line",
        ),
        (lambda: RtpMap(0, "PC MU", 8000), "bad a=rtpmap line 'a=rtpmap:0 PC MU/8000'"),
    ],
)
def test_values_we_build_check_themselves(build, reason):
    with pytest.raises(LocalProtocolError) as info:
        build()
    assert str(info.value) == reason


# Malformed remote SDP.

ORIGIN = "o=- 1 1 IN IP4 192.0.2.1"


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "SDP is empty"),
        (b"\r\n\r\n", "SDP is empty"),
        (sdp(*HEAD[1:], "m=audio 5000 RTP/AVP 0").encode(), f"SDP line 1: expected v=0, got {ORIGIN!r}"),
        (sdp("v=1", *HEAD[1:]).encode(), "SDP line 1: unsupported SDP version 'v=1'"),
        (sdp("v=0", "s=-", "t=0 0").encode(), "SDP has no o= line"),
        (sdp("v=0", ORIGIN, "t=0 0").encode(), "SDP has no s= line"),
        (sdp(*HEAD, "hello").encode(), "SDP line 6: not a <type>=<value> line: 'hello'"),
        (
            sdp(*HEAD, "M=audio 5000 RTP/AVP 0").encode(),
            "SDP line 6: not a <type>=<value> line: 'M=audio 5000 RTP/AVP 0'",
        ),
        (sdp(*HEAD, "i=a\rb").encode(), "SDP line 6: CR or NUL inside a line: 'i=a\\rb'"),
        (sdp(*HEAD, "v=0").encode(), "SDP line 6: second v= line"),
        (sdp(*HEAD, ORIGIN).encode(), "SDP line 6: second o= line"),
        (sdp(*HEAD, "c=IN IP4 192.0.2.2").encode(), "SDP line 6: second c= line at session level"),
        (
            sdp("v=0", "o=- 1 IN IP4 192.0.2.1", "s=-").encode(),
            "SDP line 2: bad o= line 'o=- 1 IN IP4 192.0.2.1'",
        ),
        (
            sdp("v=0", "o=- 1 x IN IP4 h", "s=-").encode(),
            "SDP line 2: bad session version 'x' in 'o=- 1 x IN IP4 h'",
        ),
        (
            sdp("v=0", "o=- 1 1 IN IPX h", "s=-").encode(),
            "SDP line 2: unknown address type 'IPX' in 'o=- 1 1 IN IPX h'",
        ),
        (
            sdp("v=0", ORIGIN, "s=-", "c=IN IP5 192.0.2.1").encode(),
            "SDP line 4: unknown address type 'IP5' in 'c=IN IP5 192.0.2.1'",
        ),
        (
            sdp("v=0", ORIGIN, "s=-", "c=ATM NSAP 47.0005").encode(),
            "SDP line 4: unknown network type 'ATM' in 'c=ATM NSAP 47.0005'",
        ),
        (
            sdp("v=0", ORIGIN, "s=-", "c=IN IP4 192.0.2.300").encode(),
            "SDP line 4: bad address '192.0.2.300' in 'c=IN IP4 192.0.2.300'",
        ),
        (
            sdp("v=0", ORIGIN, "s=-", "c=IN IP4 ::1").encode(),
            "SDP line 4: bad address '::1' in 'c=IN IP4 ::1'",
        ),
        (sdp("v=0", ORIGIN, "s=-", "c=IN IP4").encode(), "SDP line 4: bad c= line 'c=IN IP4'"),
        (sdp("v=0", ORIGIN, "s=-", "t=now 0").encode(), "SDP line 4: bad t= line 't=now 0'"),
        (sdp("v=0", ORIGIN, "s=-", "r=7d 1h 0").encode(), "SDP line 4: r= line before any t= line"),
        (
            sdp(*HEAD, "m=audio x RTP/AVP 0").encode(),
            "SDP line 6: bad port 'x' in m= line 'm=audio x RTP/AVP 0'",
        ),
        (
            sdp(*HEAD, "m=audio 70000 RTP/AVP 0").encode(),
            "SDP line 6: bad port '70000' in m= line 'm=audio 70000 RTP/AVP 0'",
        ),
        (
            sdp(*HEAD, "m=audio ²0 RTP/AVP 0").encode(),
            "SDP line 6: bad port '²0' in m= line 'm=audio ²0 RTP/AVP 0'",
        ),
        (sdp(*HEAD, "m=audio 5000").encode(), "SDP line 6: bad m= line 'm=audio 5000'"),
        (
            sdp(*HEAD, "m=audio 5000 RTP/AVP 128").encode(),
            "SDP line 6: bad payload type '128' in 'm=audio 5000 RTP/AVP 128'",
        ),
        (sdp(*HEAD, "m=audio 5000 RTP/AVP").encode(), "SDP line 6: no formats in 'm=audio 5000 RTP/AVP'"),
        (
            sdp(*HEAD, "m=audio 5000 RTP/AVP 0", "a=rtpmap:0 PCMU").encode(),
            "SDP line 7: bad a=rtpmap line 'a=rtpmap:0 PCMU'",
        ),
        (
            sdp(*HEAD, "m=audio 5000 RTP/AVP 0", "a=rtpmap:200 PCMU/8000").encode(),
            "SDP line 7: bad a=rtpmap line 'a=rtpmap:200 PCMU/8000'",
        ),
        (
            sdp(*HEAD, "m=audio 5000 RTP/AVP 0", "a=rtpmap:0 PCMU/0").encode(),
            "SDP line 7: bad a=rtpmap line 'a=rtpmap:0 PCMU/0'",
        ),
        (
            sdp(*HEAD, "m=audio 5000 RTP/AVP 0", "a=rtpmap:0 PCMU/8000", "a=rtpmap:0 PCMA/8000").encode(),
            "SDP line 8: second a=rtpmap for payload type 0",
        ),
        (
            sdp(*HEAD, "m=audio 5000 RTP/AVP 101", "a=fmtp:x 0-16").encode(),
            "SDP line 7: bad a=fmtp line 'a=fmtp:x 0-16'",
        ),
        (
            sdp(*HEAD, "m=audio 5000 RTP/AVP 0", "a=ptime:0").encode(),
            "SDP line 7: bad a=ptime line 'a=ptime:0'",
        ),
        (
            sdp(*HEAD, "m=audio 5000 RTP/AVP 0", "a=ptime:20", "a=ptime:30").encode(),
            "SDP line 8: second a=ptime line",
        ),
        (
            sdp(*HEAD, "m=audio 5000 RTP/AVP 0", "a=sendonly", "a=inactive").encode(),
            "SDP line 8: second direction attribute a=inactive after a=sendonly",
        ),
        (sdp(*HEAD, "a=sendonly:yes").encode(), "SDP line 6: a=sendonly takes no value: 'a=sendonly:yes'"),
        (sdp(*HEAD, "a=:x").encode(), "SDP line 6: bad attribute name '' in 'a=:x'"),
        (
            sdp(*HEAD, "m=audio 5000 RTP/AVP 0", "c=IN IP4 192.0.2.2", "c=IN IP4 192.0.2.3").encode(),
            "SDP line 8: second c= line in a media section",
        ),
        (
            sdp(*HEAD, "m=audio 5000 RTP/AVP 0", "t=0 0").encode(),
            "SDP line 7: t= line inside a media section",
        ),
        (sdp(*HEAD).encode() + b"s=caf\xe9\r\n", "SDP is not UTF-8: byte 0xe9 at offset 68"),
        (b"\xff\xfe", "SDP is not UTF-8: byte 0xff at offset 0"),
    ],
)
def test_malformed_sdp_gives_the_exact_reason(data, reason):
    with pytest.raises(RemoteProtocolError) as info:
        SessionDescription.parse(data)
    assert info.value.reason == reason


# Fuzzing.

INTERESTING = [
    *(bytes([c]) for c in b" :/=\t\x00\xff0-*"),
    b"\r\n",
    b"\n",
    b"\r",
    "²".encode(),
    b"99999999999999999999999",
    b"a=rtpmap:",
    b"m=audio ",
    b"c=IN IP6 ",
    b"a=sendonly\r\n",
    b"r=1 2\r\n",
]


mutate = Mutator(INTERESTING, max_cut=20, max_copy=40)


def test_mutated_sdp_parses_or_fails_cleanly():
    rng = random.Random(1)
    seeds = [text.encode() for text in (BARESIP_OFFER, VIDEO_OFFER, EVERYTHING, OFFER_TEXT)]
    parsed = refused = 0
    for i in range(2000):
        data = mutate(rng, seeds[i % len(seeds)])
        try:
            sd = SessionDescription.parse(data)
        except RemoteProtocolError as exc:
            assert exc.reason
            refused += 1
            continue
        parsed += 1
        assert SessionDescription.parse(sd.serialize()) == sd  # what parsed writes back out the same
        try:
            answer, _ = answer_offer(sd, "192.0.2.9", 30000, 1, 1)
        except RemoteProtocolError:  # NotAcceptable included
            continue
        assert len(answer.media) == len(sd.media)
    assert parsed > 300 and refused > 300  # both paths really ran
