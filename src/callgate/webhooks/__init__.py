"""Webhook delivery as the vendors do it: signatures, connection overrides, the SSRF guard, the HTTP client.

signature.py   X-Twilio-Signature and X-SignalWire-Signature, computed on the exact URL that is sent
overrides.py   Twilio's connection overrides in the URL fragment (#ct=...&rt=...&rc=...&rp=...)
ssrf.py        which destinations a webhook may reach, checked on the addresses actually connected to
               (and the guarded httpx transport that fetches <Play> audio)
client.py      the webhook client: timeouts, retries, redirects, capped bodies, every attempt logged
transport.py   what the client sends through: the guarded HTTP/1.1 transport, a MockTransport for tests
http11.py      its HTTP/1.1 connections: a keep-alive pool over asyncio, guarded connects, TLS
form.py        form encoding, as urlencode does it
outbox.py      the durable outbox and its dispatcher
"""
