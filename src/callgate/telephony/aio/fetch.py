"""Audio fetched by URL (Play, hold music, greetings), decoded once and kept in an HTTP cache.

A response is kept with its validators (ETag, Last-Modified) and freshness (Cache-Control max-age,
else Expires; `no-store` keeps nothing). While fresh it is served without a request; once stale it
is revalidated with If-None-Match / If-Modified-Since, and a 304 keeps the decoded audio. The cache
holds at most `max_entries` files (least recently used go first). Errors say what went wrong in one
line (`FetchError`), for the engine to report as the vendors do (Twilio 11200 and friends).
"""

from __future__ import annotations

import asyncio
import email.utils
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from callgate.telephony.media.audio import AudioError, Samples, read_audio

MAX_BYTES = 64 * 1024 * 1024


class FetchError(RuntimeError):
    """The audio could not be fetched or decoded."""


@dataclass
class _Entry:
    samples: Samples
    etag: str | None
    last_modified: str | None
    fresh_until: float


def _freshness(response: httpx.Response, now: float) -> float | None:
    """Until when the response is fresh (None: do not store it)."""
    control = [d.strip().lower() for d in response.headers.get("cache-control", "").split(",") if d.strip()]
    if "no-store" in control:
        return None
    if "no-cache" in control:
        return now
    for directive in control:
        if directive.startswith("max-age="):
            try:
                return now + max(0, int(directive.removeprefix("max-age=")))
            except ValueError:
                return now
    expires = response.headers.get("expires")
    if expires:
        try:
            when = email.utils.parsedate_to_datetime(expires).timestamp()
        except (TypeError, ValueError):
            return now
        return max(now, now + (when - time.time()))
    return now  # no freshness given: revalidate every time


class AudioFetcher:
    def __init__(
        self,
        *,
        max_entries: int = 128,
        timeout: float = 10.0,
        now: Callable[[], float] = time.monotonic,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        #: how requests reach the network (the engine hands in one that refuses internal addresses)
        self._transport = transport
        self._cache: OrderedDict[str, _Entry] = OrderedDict()
        self._max = max_entries
        self._timeout = timeout
        self._now = now
        self._client: httpx.AsyncClient | None = None
        self._locks: dict[str, asyncio.Lock] = {}
        self.requests = 0  # HTTP requests made (for tests and metrics)

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def get(self, url: str) -> Samples:
        lock = self._locks.setdefault(url, asyncio.Lock())
        async with lock:  # one fetch per URL at a time: the others wait and share it
            return await self._get(url)

    async def _get(self, url: str) -> Samples:
        now = self._now()
        entry = self._cache.get(url)
        if entry is not None and now < entry.fresh_until:
            self._cache.move_to_end(url)
            return entry.samples
        headers = {}
        if entry is not None:
            if entry.etag:
                headers["If-None-Match"] = entry.etag
            if entry.last_modified:
                headers["If-Modified-Since"] = entry.last_modified
        if self._client is None:
            self._client = httpx.AsyncClient(
                timeout=self._timeout, follow_redirects=True, transport=self._transport, trust_env=False
            )
        self.requests += 1
        try:
            response = await self._client.get(url, headers=headers)
        except Exception as exc:  # httpx's errors, and the transport's refusal of an internal address
            raise FetchError(f"{url}: {type(exc).__name__}: {exc}") from None
        if response.status_code == 304 and entry is not None:
            fresh = _freshness(response, now)
            entry.fresh_until = fresh if fresh is not None else now
            self._cache.move_to_end(url)
            return entry.samples
        if response.status_code != 200:
            raise FetchError(f"{url}: HTTP {response.status_code}")
        if len(response.content) > MAX_BYTES:
            raise FetchError(f"{url}: larger than {MAX_BYTES} bytes")
        try:
            samples = read_audio(response.content)
        except AudioError as exc:
            raise FetchError(f"{url}: {exc}") from None
        fresh = _freshness(response, now)
        if fresh is None:
            self._cache.pop(url, None)
            return samples
        validators = response.headers.get("etag"), response.headers.get("last-modified")
        self._cache[url] = _Entry(samples, *validators, fresh)
        self._cache.move_to_end(url)
        while len(self._cache) > self._max:
            old, _ = self._cache.popitem(last=False)
            self._locks.pop(old, None)
        return samples
