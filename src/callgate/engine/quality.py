"""A call's audio-quality figures (Twilio's Voice Insights call summary) from its stream's RTP and RTCP
statistics, written at its end."""

from __future__ import annotations

from callgate.core.call import CallQuality
from callgate.telephony.aio.media import RtpStream


def measured(media: RtpStream | None, known: CallQuality) -> CallQuality:
    """The figures of `media`; `known` (what the call already has) when it carried nothing to measure."""
    if media is None:
        return known
    q = media.quality
    if media.stats.packets_received == 0 and q.rtt_avg_ms is None:
        return known
    return CallQuality(
        audio_in_mos=round(q.mos(), 2),
        audio_rtt_avg_ms=None if q.rtt_avg_ms is None else round(q.rtt_avg_ms),
        audio_rtt_min_ms=None if q.rtt_min_ms is None else round(q.rtt_min_ms),
        audio_rtt_max_ms=None if q.rtt_max_ms is None else round(q.rtt_max_ms),
        audio_out_jitter_min_ms=round(q.jitter_ms) if q._jitters_ms else None,  # noqa: SLF001
        audio_out_jitter_max_ms=round(q.jitter_max_ms),
        audio_out_jitter_avg_ms=round(q.jitter_ms),
        audio_out_lost=q.packets_lost,
    )
