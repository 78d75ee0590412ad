"""What clients do that the proxy must answer correctly: HTTP/1.0 keep-alive, leaving early,
an idempotent request with a body that has to be sent again."""

from __future__ import annotations

import socket
import time

import httpx

from tests.router.conftest import StartRouter, StartUpstream
from tests.router.harness import closed_port, raw_exchange
from v11ops.router import Target


def test_an_http10_client_asking_for_keep_alive_gets_it_on_one_connection(
    upstream: StartUpstream, router: StartRouter
) -> None:
    blue = upstream("blue")
    r = router(blue.target())
    request = b"GET /one HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
    raw = raw_exchange(r.server.port, request + request.replace(b"/one", b"/two"), responses=2)
    heads = [part.partition(b"\r\n\r\n")[0].lower() for part in raw.split(b"HTTP/1.1 ")[1:]]
    assert len(heads) == 2
    assert all(b"connection: keep-alive" in head for head in heads)


def test_a_client_that_leaves_before_the_answer_is_counted_as_499(
    upstream: StartUpstream, router: StartRouter
) -> None:
    blue = upstream("blue")
    r = router(blue.target())
    with socket.create_connection(("127.0.0.1", r.server.port), timeout=5) as sock:
        sock.sendall(b"GET /?sleep=1 HTTP/1.1\r\nHost: t\r\n\r\n")
        blue.wait_sleeping()
    deadline = time.monotonic() + 10
    while (stats := r.client().stats().slot("blue")).codes != {"499": 1}:
        assert time.monotonic() < deadline, stats
        time.sleep(0.05)
    assert stats.in_flight == 0


def test_an_idempotent_request_with_a_body_is_replayed_on_another_target(
    upstream: StartUpstream, router: StartRouter
) -> None:
    blue = upstream("blue")
    dead = Target("dead", f"http://127.0.0.1:{closed_port()}", 50)
    r = router(dead, blue.target(weight=50))  # `dead` is picked first on a tie
    body = b"".join(b"%05d," % i for i in range(2000))
    with httpx.Client(base_url=r.url) as http:
        response = http.put("/doc", content=body)
    assert response.status_code == 200
    assert response.json()["name"] == "blue"
    assert response.json()["body"] == body.decode(), "the whole body arrived, once"
    assert r.client().stats().retries == 1
