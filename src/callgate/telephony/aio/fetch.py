"""Audio fetched by URL (Play, hold music, greetings), decoded once and kept in an HTTP cache.

A response is kept with its validators (ETag, Last-Modified) and freshness (Cache-Control max-age,
else Expires; `no-store` keeps nothing). While fresh it is served without a request; once stale it
is revalidated with If-None-Match / If-Modified-Since, and a 304 keeps the decoded audio. The cache
holds at most `max_entries` files and `max_cache_bytes` of decoded audio (least recently used go
first). Errors say what went wrong in one line (`FetchError`), for the engine to report as the vendors
do (Twilio 11200 and friends).

A file is never held whole in memory: a Content-Length over `MAX_BYTES` is refused before the body is
read, the body is streamed into a spooled temporary file (on disk past `SPOOL_BYTES`) and the stream
is cut at `MAX_BYTES` (an endless one included), the whole download is bounded by `total_timeout_s`,
and the file is decoded a block at a time, in a thread, so the call loop goes on meanwhile.
"""

from __future__ import annotations

import asyncio
import email.utils
import tempfile
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO

import httpx

from callgate.telephony.media.audio import AudioError, Samples, decode_audio

#: the largest audio file fetched (more is refused, and the rest is never read)
MAX_BYTES = 64 * 1024 * 1024
#: what a download keeps in memory before it goes on in a file on disk
SPOOL_BYTES = 1024 * 1024


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
        max_cache_bytes: int = 256 * 1024 * 1024,
        timeout: float = 10.0,
        total_timeout_s: float = 60.0,
        now: Callable[[], float] = time.monotonic,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        #: how requests reach the network (the engine hands in one that refuses internal addresses)
        self._transport = transport
        self._cache: OrderedDict[str, _Entry] = OrderedDict()
        self._max = max_entries
        self._max_bytes = max_cache_bytes
        self._timeout = timeout
        self._total_timeout_s = total_timeout_s
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
        # Audio is sent as it is: a compressed body could inflate past the limit within one chunk.
        headers = {"Accept-Encoding": "identity"}
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
        body = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)
        try:
            response = await self._download(url, headers, body, revalidating=entry is not None)
        except BaseException:
            body.close()
            raise
        if response.status_code == 304 and entry is not None:
            body.close()
            fresh = _freshness(response, now)
            entry.fresh_until = fresh if fresh is not None else now
            self._cache.move_to_end(url)
            return entry.samples
        try:
            # The thread owns the file from here: a call that ends meanwhile does not close it under it.
            samples = await asyncio.to_thread(_decode_and_close, body)
        except AudioError as exc:
            raise FetchError(f"{url}: {exc}") from None
        fresh = _freshness(response, now)
        if fresh is None:
            self._cache.pop(url, None)
            return samples
        validators = response.headers.get("etag"), response.headers.get("last-modified")
        self._cache[url] = _Entry(samples, *validators, fresh)
        self._cache.move_to_end(url)
        while len(self._cache) > self._max or (len(self._cache) > 1 and self._too_big()):
            old, _ = self._cache.popitem(last=False)
            self._locks.pop(old, None)
        return samples

    async def _download(
        self, url: str, headers: dict[str, str], body: IO[bytes], *, revalidating: bool
    ) -> httpx.Response:
        """GET `url` into `body`, up to `MAX_BYTES`; the response (its body read) if 200, or 304 to
        a revalidation."""
        assert self._client is not None
        try:
            async with asyncio.timeout(self._total_timeout_s):
                async with self._client.stream("GET", url, headers=headers) as response:
                    if response.status_code == 304 and revalidating:
                        return response
                    if response.status_code != 200:
                        raise FetchError(f"{url}: HTTP {response.status_code}")
                    declared = response.headers.get("content-length", "")
                    if declared.isdigit() and int(declared) > MAX_BYTES:
                        over = f"Content-Length {declared} is over the limit of {MAX_BYTES} bytes"
                        raise FetchError(f"{url}: {over}")
                    size = 0
                    async for chunk in response.aiter_bytes():
                        size += len(chunk)
                        if size > MAX_BYTES:  # the rest is never read: the connection is closed
                            raise FetchError(f"{url}: larger than the limit of {MAX_BYTES} bytes")
                        body.write(chunk)
                    return response
        except FetchError:
            raise
        except TimeoutError:
            raise FetchError(f"{url}: not fetched within {self._total_timeout_s:g} s") from None
        except Exception as exc:  # httpx's errors, and the transport's refusal of an internal address
            raise FetchError(f"{url}: {type(exc).__name__}: {exc}") from None

    def _too_big(self) -> bool:
        return sum(entry.samples.nbytes for entry in self._cache.values()) > self._max_bytes


def _decode_and_close(body: IO[bytes]) -> Samples:
    with body:
        body.seek(0)
        return decode_audio(body)
