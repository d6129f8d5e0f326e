"""The SignalWire SDK exactly as its users configure it: only `signalwire_space_url`, which forces HTTPS.

Callgate serves TLS with a self-signed certificate made here with openssl; the SDK trusts it through
its requests session, and nothing else about the client is changed.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import pytest
from support import FROM, HOST, TO, VOICE_URL, Server


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    workdir = tmp_path_factory.mktemp("tls")
    cert, key = workdir / "cert.pem", workdir / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", f"/CN={HOST}",
         "-addext", f"subjectAltName=IP:{HOST}", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    server = Server("sqlite", f"sqlite:///{workdir}/tls.db", workdir, tls=(cert, key))
    server.start()
    try:
        yield server
    finally:
        server.stop()


def test_the_sdk_over_https_with_only_the_space_url(tls_server: Server) -> None:
    from signalwire.rest import Client

    info = tls_server.create_account("tls")
    project, token = info["signalwire"]["project_id"], info["signalwire"]["api_token"]
    client = Client(project, token, signalwire_space_url=f"{HOST}:{tls_server.port}")
    assert tls_server.tls is not None
    client.http_client.session.verify = str(tls_server.tls[0])

    sids = [client.calls.create(to=TO, from_=FROM, url=VOICE_URL).sid for _ in range(3)]
    assert client.calls(sids[0]).fetch().status == "queued"
    # Paging follows next_page_uri against the SDK's own https base URL.
    assert [c.sid for c in client.calls.list(page_size=2)] == list(reversed(sids))
    assert client.calls(sids[1]).update(status="canceled").status == "canceled"


def test_plain_http_is_not_served_on_the_tls_port(tls_server: Server) -> None:
    import requests

    with pytest.raises(requests.RequestException):
        requests.get(f"http://{HOST}:{tls_server.port}/healthz", timeout=5)
