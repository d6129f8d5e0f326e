"""Sans-IO RTP and RTCP (RFC 3550), statistics, RFC 4733 events."""
