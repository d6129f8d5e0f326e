"""The shared port's demultiplexing rules, with integers for addresses and strings for streams."""

from callgate.telephony.rtp.demux import SsrcDemux

OWN, OWN_RTCP = 1000, 1001  # the port's own RTP and RTCP addresses
PEER, PEER_RTCP = 2000, 2001
OTHER, OTHER_RTCP = 3000, 3001


def demux_with(*streams: tuple[str, int]) -> SsrcDemux[str]:
    """A port holding `streams`, each (name, its own SSRC)."""
    demux: SsrcDemux[str] = SsrcDemux(OWN, OWN_RTCP)
    for name, ssrc in streams:
        assert not demux.ssrc_taken(ssrc)
        demux.attach(name, ssrc)
    return demux


def test_the_one_stream_routed_to_an_address_takes_what_comes_from_there():
    demux = demux_with(("a", 0xA))
    demux.route("a", PEER, PEER_RTCP, None)
    assert demux.rtp(PEER, 0x1234) == "a"
    assert demux.rtp(PEER, None) == "a"  # too short to carry an SSRC: its call counts the garbage
    assert demux.rtp(OTHER, 0x1234) is None  # from nowhere it was routed to: nobody's
    assert demux.rtcp(PEER_RTCP, 0x1234) == "a"
    assert demux.rtcp(PEER, 0x1234) is None  # RTCP from the peer's RTP address: not its RTCP


def test_an_announced_ssrc_filters_the_address_of_a_single_stream():
    demux = demux_with(("a", 0xA))
    demux.route("a", PEER, PEER_RTCP, 0x1111)
    assert demux.rtp(PEER, 0x1111) == "a"
    assert demux.rtp(PEER, 0x2222) is None  # another call's first packets, before its answer is read
    assert demux.rtcp(PEER_RTCP, 0x1111) == "a"
    assert demux.rtcp(PEER_RTCP, 0x2222) is None


def test_streams_sharing_an_address_are_told_apart_by_announced_ssrcs_and_nothing_is_guessed():
    demux = demux_with(("a", 0xA), ("b", 0xB))
    demux.route("a", PEER, PEER_RTCP, 0x1111)
    demux.route("b", PEER, PEER_RTCP, 0x2222)
    assert (demux.rtp(PEER, 0x1111), demux.rtp(PEER, 0x2222), demux.rtp(PEER, 0x3333)) == ("a", "b", None)
    assert (demux.rtcp(PEER_RTCP, 0x1111), demux.rtcp(PEER_RTCP, 0x2222)) == ("a", "b")
    assert demux.rtcp(PEER_RTCP, None) is None

    unannounced = demux_with(("a", 0xA), ("b", 0xB))
    unannounced.route("a", PEER, PEER_RTCP, None)
    unannounced.route("b", PEER, PEER_RTCP, None)
    assert unannounced.rtp(PEER, 0x1111) is None
    assert unannounced.rtp(PEER, None) is None


def test_an_echo_goes_back_to_the_stream_whose_own_ssrc_it_carries():
    demux = demux_with(("a", 0xA), ("b", 0xB))
    demux.route("a", PEER, PEER_RTCP, None)
    demux.route("b", PEER, PEER_RTCP, None)
    assert (demux.rtp(PEER, 0xA), demux.rtp(PEER, 0xB)) == ("a", "b")
    assert (demux.rtcp(PEER_RTCP, 0xA), demux.rtcp(PEER_RTCP, 0xB)) == ("a", "b")
    assert demux.rtp(OTHER, 0xA) is None  # its SSRC from an address it does not send to: no echo


def test_a_streams_own_ssrc_from_the_ports_own_address_is_not_an_echo():
    """Two calls of the process to each other on the shared port, neither announcing an SSRC."""
    demux = demux_with(("a", 0xA), ("b", 0xB))
    demux.route("a", OWN, OWN_RTCP, None)
    demux.route("b", OWN, OWN_RTCP, None)
    assert demux.rtp(OWN, 0xA) is None and demux.rtp(OWN, 0xB) is None
    assert demux.rtcp(OWN_RTCP, 0xA) is None
    demux.route("a", OWN, OWN_RTCP, 0xB)  # with the SSRCs announced, each hears the other
    demux.route("b", OWN, OWN_RTCP, 0xA)
    assert (demux.rtp(OWN, 0xB), demux.rtp(OWN, 0xA)) == ("a", "b")


def test_rerouting_and_detaching_leave_nothing_behind():
    demux = demux_with(("a", 0xA), ("b", 0xB))
    demux.route("a", PEER, PEER_RTCP, 0x1111)
    demux.route("b", PEER, PEER_RTCP, 0x2222)
    demux.route("a", OTHER, OTHER_RTCP, None)  # a re-INVITE moved a's peer
    assert demux.rtp(PEER, 0x1111) is None
    assert demux.rtp(PEER, 0x9999) is None  # b, alone there now, announced 0x2222
    assert demux.rtp(PEER, 0x2222) == "b" and demux.rtp(OTHER, 0x9999) == "a"
    demux.detach("b", 0xB)
    assert demux.rtp(PEER, 0x2222) is None and demux.rtcp(PEER_RTCP, 0x2222) is None
    assert not demux.ssrc_taken(0xB) and demux.ssrc_taken(0xA)
    demux.unroute("a")
    assert demux.rtp(OTHER, 0x9999) is None and demux.rtcp(OTHER_RTCP, 0x9999) is None
