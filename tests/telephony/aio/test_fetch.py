"""Audio by URL from a real HTTP server on loopback: decoded once, kept while fresh, revalidated with
its ETag when stale, refetched when changed; errors in one line."""

from __future__ import annotations

import io
import threading
import tracemalloc
import wave
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from callgate.telephony.aio import fetch
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


class Streams:
    """Bodies that would not fit in memory: how much of each the server got to send."""

    def __init__(self) -> None:
        self.sent: dict[str, int] = {}
        self.base = ""


#: what the endless body sends at most, whatever the client does (it bounds a broken fetcher too)
ENDLESS_CAP = 64 * 1024 * 1024


@pytest.fixture
def streams():
    state = Streams()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self):  # noqa: N802 - the stdlib's name
            self.send_response(200)
            self.send_header("Content-Type", "audio/wav")
            self.send_header("Connection", "close")
            if self.path in ("/declared", "/silent"):
                self.send_header("Content-Length", str(1 << 30 if self.path == "/declared" else 1000))
                self.end_headers()
                self.wfile.flush()
                self.rfile.read()  # no body: it waits for the client to go
                return
            self.end_headers()
            chunk = b"\0" * 65536
            state.sent[self.path] = 0
            try:
                while state.sent[self.path] < ENDLESS_CAP:
                    self.wfile.write(chunk)
                    state.sent[self.path] += len(chunk)
            except OSError:  # the client closed the connection: what a bounded fetch does
                pass

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    state.base = f"http://127.0.0.1:{httpd.server_address[1]}"
    yield state
    httpd.shutdown()
    httpd.server_close()


async def test_a_content_length_over_the_limit_is_refused_before_the_body(streams):
    fetcher = AudioFetcher(timeout=30.0)
    try:
        # The server sends no body: a fetcher that read it would wait for the read timeout.
        with pytest.raises(FetchError, match=r"/declared: Content-Length 1073741824 is over the limit"):
            await fetcher.get(streams.base + "/declared")
    finally:
        await fetcher.close()


async def test_an_endless_body_is_cut_at_the_limit(streams, monkeypatch):
    monkeypatch.setattr(fetch, "MAX_BYTES", 256 * 1024)
    fetcher = AudioFetcher()
    try:
        with pytest.raises(FetchError, match=r"/endless: larger than the limit of 262144 bytes"):
            await fetcher.get(streams.base + "/endless")
    finally:
        await fetcher.close()
    assert streams.sent["/endless"] < ENDLESS_CAP, "the fetcher closed the connection, the rest was not sent"


async def test_a_download_is_bounded_in_time(streams):
    fetcher = AudioFetcher(timeout=30.0, total_timeout_s=0.2)
    try:
        with pytest.raises(FetchError, match=r"/silent: not fetched within 0.2 s"):
            await fetcher.get(streams.base + "/silent")  # a body that never comes
    finally:
        await fetcher.close()


async def test_a_large_file_is_decoded_in_memory_bounded_by_its_audio(server):
    samples = (np.arange(8000 * 500) % 2000 - 1000).astype(np.int16)  # 500 s, 8 MB at 8 kHz
    server.files["/long.wav"] = (wav_of(samples), {"Cache-Control": "no-store"})
    fetcher = AudioFetcher()
    tracemalloc.start()  # numpy's buffers are traced too
    try:
        got = await fetcher.get(server.base + "/long.wav")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        await fetcher.close()
    assert np.array_equal(got, samples)
    # The download goes to disk and is decoded a block at a time: the result, its blocks once, and a
    # block. Decoding the whole file in floating point would take several times the file.
    assert peak < 2.5 * samples.nbytes, f"peak {peak / 1e6:.0f} MB for {samples.nbytes / 1e6:.0f} MB of audio"
