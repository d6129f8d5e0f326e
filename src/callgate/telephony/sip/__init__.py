"""Sans-IO SIP (RFC 3261): messages, URIs and headers. No sockets, no clocks, no asyncio here."""
