"""The only asyncio in telephony: sockets and timers driving the sans-IO SIP core."""
