"""Telephony: sans-IO SIP (`sip`), and later RTP, media and the asyncio shell (`aio`)."""
