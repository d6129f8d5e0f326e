"""Audio by URL from a real HTTP server on loopback: decoded once, kept while fresh, revalidated with
its ETag when stale, refetched when changed; errors in one line."""

from __future__ import annotations

import io
import threading
import wave
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from callgate.telephony.aio.fetch import AudioFetcher, FetchError
from callgate.telephony.media.audio import encode_mp3
from callgate.telephony.media.tones import tone

pytestmark = pytest.mark.anyio


def wav_of(samples: np.ndarray) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(samples.astype("<i2").tobytes())
    return out.getvalue()


class Files:
    """What the server serves: path -> (body, headers); and every request it saw."""

    def __init__(self) -> None:
        self.files: dict[str, tuple[bytes, dict[str, str]]] = {}
        self.seen: list[tuple[str, str | None]] = []


@pytest.fixture
def server():
    files = Files()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - the stdlib's name
            files.seen.append((self.path, self.headers.get("If-None-Match")))
            if self.path not in files.files:
                self.send_error(404)
                return
            body, headers = files.files[self.path]
            etag = headers.get("ETag")
            if etag is not None and self.headers.get("If-None-Match") == etag:
                self.send_response(304)
                self.send_header("ETag", etag)
                self.end_headers()
                return
            self.send_response(200)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    files.base = f"http://127.0.0.1:{httpd.server_address[1]}"
    yield files
    httpd.shutdown()
    httpd.server_close()


async def test_fresh_then_revalidated_then_changed(server):
    clock = [0.0]
    fetcher = AudioFetcher(now=lambda: clock[0])
    first = tone((440.0,), 0.2)
    server.files["/hold.wav"] = (wav_of(first), {"ETag": '"v1"', "Cache-Control": "max-age=60"})
    try:
        got = await fetcher.get(server.base + "/hold.wav")
        assert np.array_equal(got, first)
        clock[0] = 30.0
        assert await fetcher.get(server.base + "/hold.wav") is got  # fresh: no request
        assert server.seen == [("/hold.wav", None)]
        clock[0] = 61.0  # stale: revalidated, 304, same audio
        assert await fetcher.get(server.base + "/hold.wav") is got
        assert server.seen[-1] == ("/hold.wav", '"v1"')
        second = tone((660.0,), 0.2)
        server.files["/hold.wav"] = (wav_of(second), {"ETag": '"v2"', "Cache-Control": "max-age=60"})
        clock[0] = 200.0  # stale again, and changed: the new audio
        assert np.array_equal(await fetcher.get(server.base + "/hold.wav"), second)
        assert fetcher.requests == 3
    finally:
        await fetcher.close()


async def test_no_store_and_mp3(server):
    fetcher = AudioFetcher()
    server.files["/song.mp3"] = (encode_mp3(tone((440.0,), 0.5)), {"Cache-Control": "no-store"})
    try:
        assert len(await fetcher.get(server.base + "/song.mp3")) > 3000
        await fetcher.get(server.base + "/song.mp3")
        assert fetcher.requests == 2  # nothing kept
    finally:
        await fetcher.close()


async def test_errors_in_one_line(server):
    fetcher = AudioFetcher()
    server.files["/page.html"] = (b"<html>hi</html>", {})
    try:
        with pytest.raises(FetchError, match=r"/missing.wav: HTTP 404"):
            await fetcher.get(server.base + "/missing.wav")
        with pytest.raises(FetchError, match=r"/page.html: not audio we can decode"):
            await fetcher.get(server.base + "/page.html")
        with pytest.raises(FetchError, match=r"ConnectError"):
            await fetcher.get("http://127.0.0.1:9/nothing.wav")
    finally:
        await fetcher.close()
