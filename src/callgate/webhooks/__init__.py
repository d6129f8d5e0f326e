"""Webhook delivery as the vendors do it: signatures, connection overrides, the SSRF guard, the HTTP client.

signature.py   X-Twilio-Signature and X-SignalWire-Signature, computed on the exact URL that is sent
overrides.py   Twilio's connection overrides in the URL fragment (#ct=...&rt=...&rc=...&rp=...)
ssrf.py        which destinations a webhook may reach, checked on the addresses actually connected to
client.py      one shared httpx client: timeouts, retries, redirects, capped bodies, every attempt logged
"""
