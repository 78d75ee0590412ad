"""Slow readers, upstreams that never accept or fall silent mid-body, protocol upgrades."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.router.conftest import StartRouter, StartUpstream
from tests.router.harness import raw_exchange
from v11ops.router import Target
from v11ops.router.proxy import ProxySettings

# The client sees its connection closed (cleanly or by a reset) before a whole response.
CUT_OFF = (httpx.RemoteProtocolError, httpx.ReadError)


def _read_response(sock: socket.socket) -> tuple[bytes, bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
    while len(body) < length:
        chunk = sock.recv(1 << 20)
        assert chunk, "the connection closed before the whole body arrived"
        body += chunk
    return head, body


def test_large_bodies_both_ways_arrive_intact_when_the_client_reads_late(
    upstream: StartUpstream, router: StartRouter
) -> None:
    blue = upstream("blue")
    r = router(blue.target())
    body = bytes(range(32, 127)) * (12 * 1024 * 1024 // 95)  # ~12 MB: more than any buffer
    head = f"POST /big HTTP/1.1\r\nHost: t\r\nContent-Length: {len(body)}\r\n\r\n".encode()
    with socket.create_connection(("127.0.0.1", r.server.port), timeout=60) as sock:
        sock.sendall(head + body)
        time.sleep(0.5)  # the answer piles up in the router until the client reads
        response_head, response_body = _read_response(sock)
    assert response_head.startswith(b"HTTP/1.1 200")
    echoed = json.loads(response_body)
    assert len(echoed["body"]) == len(body) and echoed["body"].encode() == body
    assert r.client().stats().slot("blue").errors == {}


@pytest.fixture
def unaccepting() -> Iterator[int]:
    """A port whose listen queue is full: connection attempts to it hang."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = int(listener.getsockname()[1])
    fillers = []
    for _ in range(4):
        filler = socket.socket()
        filler.setblocking(False)
        filler.connect_ex(("127.0.0.1", port))
        fillers.append(filler)
    yield port
    for filler in fillers:
        filler.close()
    listener.close()


def test_an_upstream_that_never_accepts_gives_504_after_the_connect_timeout(
    unaccepting: int, router: StartRouter
) -> None:
    r = router(Target("stuck", f"http://127.0.0.1:{unaccepting}"), connect_timeout_s=0.3)
    response = httpx.post(r.url, content=b"{}", timeout=10)
    assert response.status_code == 504
    assert "stuck" in response.json()["error"] and "timeout" in response.json()["error"]
    assert r.client().stats().slot("stuck").errors == {"timeout": 1}


def test_an_upgrade_request_is_answered_as_plain_http_and_the_connection_ends(
    upstream: StartUpstream, router: StartRouter
) -> None:
    blue = upstream("blue")
    r = router(blue.target())
    request = (
        b"GET /ws HTTP/1.1\r\nHost: t\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"
        b"\x81\x05hello"  # a frame of the protocol it hoped to switch to
    )
    raw = raw_exchange(r.server.port, request)
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    seen = {k for k, _ in json.loads(body)["headers"]}
    assert "upgrade" not in seen and "connection" not in seen


def test_an_upstream_silent_in_the_middle_of_a_body_cuts_the_client_off(
    upstream: StartUpstream, router: StartRouter
) -> None:
    blue = upstream("blue")
    r = router(blue.target(), proxy=ProxySettings(read_timeout_s=0.3, tick_s=0.05))
    with pytest.raises(CUT_OFF):
        httpx.get(f"{r.url}/stream", params={"n": "3", "delay": "2"}, timeout=10)
    assert r.client().stats().slot("blue").errors == {"timeout": 1}
