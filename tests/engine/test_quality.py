"""A call's audio figures from its stream's RTCP statistics; a stream that carried nothing keeps what
the call had."""

from __future__ import annotations

from types import SimpleNamespace

from callgate.core.call import NOT_MEASURED, CallQuality
from callgate.engine.quality import measured
from callgate.telephony.rtp.rtcp import ReportBlock
from callgate.telephony.rtp.stats import CallQuality as Stats


def stream(received: int, stats: Stats) -> SimpleNamespace:
    return SimpleNamespace(quality=stats, stats=SimpleNamespace(packets_received=received))


def test_the_figures_come_from_the_streams_reports():
    stats = Stats(8000)
    stats.add_rtt(0.040)
    stats.add_rtt(0.060)
    stats.add_report(ReportBlock(ssrc=1, fraction_lost=0, cumulative_lost=3, highest_seq=100, jitter=80,
                                 lsr=0, dlsr=0))  # fmt: skip
    got = measured(stream(50, stats), NOT_MEASURED)  # type: ignore[arg-type]
    assert got == CallQuality(
        audio_in_mos=round(stats.mos(), 2),
        audio_rtt_avg_ms=50,
        audio_rtt_min_ms=40,
        audio_rtt_max_ms=60,
        audio_out_jitter_min_ms=10,
        audio_out_jitter_max_ms=10,
        audio_out_jitter_avg_ms=10,
        audio_out_lost=3,
    )


def test_a_stream_that_carried_nothing_keeps_what_the_call_had():
    known = CallQuality(audio_in_mos=4.2)
    assert measured(stream(0, Stats(8000)), known) is known  # type: ignore[arg-type]
    assert measured(None, known) is known


def test_packets_without_reports_have_no_jitter_minimum():
    got = measured(stream(10, Stats(8000)), NOT_MEASURED)  # type: ignore[arg-type]
    assert got.audio_out_jitter_min_ms is None and got.audio_rtt_avg_ms is None
