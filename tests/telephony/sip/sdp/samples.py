"""SDP bodies the description and offer/answer tests share: real peers' and our own."""

from __future__ import annotations


def sdp(*lines: str) -> str:
    return "".join(line + "\r\n" for line in lines)


HEAD = ("v=0", "o=- 1 1 IN IP4 192.0.2.1", "s=-", "c=IN IP4 192.0.2.1", "t=0 0")

# What SIPp's built-in uas scenario answers.
SIPP_ANSWER = sdp(
    "v=0",
    "o=user1 53655765 2353687637 IN IP4 127.0.0.1",
    "s=-",
    "c=IN IP4 127.0.0.1",
    "t=0 0",
    "m=audio 6000 RTP/AVP 0",
    "a=rtpmap:0 PCMU/8000",
)

# A softphone offer in the style of baresip: opus first, then G.711, then DTMF events.
BARESIP_OFFER = sdp(
    "v=0",
    "o=- 1715418463 2920596521 IN IP4 192.168.1.23",
    "s=-",
    "c=IN IP4 192.168.1.23",
    "t=0 0",
    "m=audio 10462 RTP/AVP 96 0 8 101",
    "b=AS:106",
    "a=rtpmap:96 opus/48000/2",
    "a=fmtp:96 stereo=1;sprop-stereo=1",
    "a=rtpmap:0 PCMU/8000",
    "a=rtpmap:8 PCMA/8000",
    "a=rtpmap:101 telephone-event/8000",
    "a=fmtp:101 0-15",
    "a=ptime:20",
    "a=sendrecv",
    "a=label:1",
    "a=rtcp-rsize",
)

# A video phone: video first, audio second with its own c=, session-level attribute.
VIDEO_OFFER = sdp(
    "v=0",
    "o=carol 7201 7201 IN IP4 203.0.113.5",
    "s=Talk",
    "c=IN IP4 203.0.113.5",
    "t=0 0",
    "a=rtcp-xr:rcvr-rtt=all:10000 stat-summary=loss,dup,jitter",
    "m=video 9078 RTP/AVP 96 97",
    "a=rtpmap:96 VP8/90000",
    "a=rtpmap:97 H264/90000",
    "a=fmtp:97 profile-level-id=42801F",
    "a=rtcp-fb:* nack pli",
    "m=audio 7078 RTP/AVP 8 0 110",
    "c=IN IP4 203.0.113.6",
    "a=rtpmap:110 telephone-event/8000",
    "a=ptime:30",
)

# Every kind of line we keep without interpreting, in RFC 4566 order, with repeat times and multicast.
EVERYTHING = sdp(
    "v=0",
    "o=mhandley 3724394400 3724394405 IN IP4 198.51.100.40",
    "s=Weekly review",
    "i=The weekly review call",
    "u=https://example.org/review",
    "e=review@example.org (Review desk)",
    "p=+1 555 0100",
    "c=IN IP4 233.252.0.9/64",
    "b=CT:256",
    "t=3724394400 3724398000",
    "r=7d 1h 0 25h",
    "t=0 0",
    "z=3730928400 -1h",
    "k=prompt",
    "x=an extension line",
    "a=recvonly",
    "a=tool:hand-written",
    "m=audio 49170/2 RTP/AVP 0",
    "i=the voice",
    "c=IN IP6 ff1e:db8::9/3",
    "b=AS:64",
    "k=prompt",
    "a=rtcp:49171",
    "m=application 5000 TCP/BFCP *",
    "a=floorctrl:c-s",
    "m=image 0 udptl t38",
)


# Our offers.

OFFER_TEXT = sdp(
    "v=0",
    "o=callgate 4242 1 IN IP4 192.0.2.10",
    "s=callgate",
    "c=IN IP4 192.0.2.10",
    "t=0 0",
    "m=audio 40000 RTP/AVP 0 8 101",
    "a=rtpmap:0 PCMU/8000",
    "a=rtpmap:8 PCMA/8000",
    "a=rtpmap:101 telephone-event/8000",
    "a=fmtp:101 0-16",
    "a=ptime:20",
    "a=sendrecv",
)
