"""Oversized request heads and bodies, and slowloris, against the builtin router.

Each refused request gets its status and a closed connection, and the router goes on serving
everyone else. Limits are set small through ProxySettings so the tests stay quick.
"""

from __future__ import annotations

import json
import socket
import time

import httpx
import pytest

from tests.attacks.wire import ENDLESS, push_until_cut
from tests.router.conftest import StartRouter, StartUpstream
from tests.router.harness import raw_exchange, read_to_eof
from v11ops.router.proxy import ProxySettings

LIMITS = ProxySettings(
    tick_s=0.05,
    header_timeout_s=1.0,
    max_url_bytes=1024,
    max_header_bytes=4096,
    max_headers=20,
    max_body_bytes=64 * 1024,
)


def _status(raw: bytes) -> int:
    return int(raw.split(b" ", 2)[1])


def _assert_refused(port: int, data: bytes, status: int) -> dict[str, object]:
    """`data` is answered with `status`, `connection: close`, and the router closes."""
    raw = read_to_eof(port, data)  # returns only because the router closed
    head, _, body = raw.partition(b"\r\n\r\n")
    assert _status(raw) == status, raw[:200]
    assert b"connection: close" in head.lower()
    return dict(json.loads(body))


def _served(url: str) -> None:
    answer = httpx.get(f"{url}/still-here", timeout=5)
    assert answer.status_code == 200 and answer.json()["path"] == "/still-here"


@pytest.fixture
def url_and_port(upstream: StartUpstream, router: StartRouter) -> tuple[str, int]:
    r = router(upstream("blue").target(), proxy=LIMITS)
    return r.url, r.server.port


@pytest.mark.parametrize(
    ("request_bytes", "status", "error"),
    [
        (
            b"GET /" + b"a" * 2000 + b" HTTP/1.1\r\nHost: r\r\n\r\n",
            414,
            "request target longer than 1024 bytes",
        ),
        (
            b"GET / HTTP/1.1\r\n" + b"".join(b"X-H%d: v\r\n" % i for i in range(21)) + b"\r\n",
            431,
            "more than 20 header lines",
        ),
        (
            b"GET / HTTP/1.1\r\nHost: r\r\nX-Big: " + b"v" * 5000 + b"\r\n\r\n",
            431,
            "headers larger than 4096 bytes",
        ),
    ],
    ids=["target", "header-count", "header-size"],
)
def test_an_oversized_head_is_refused_and_others_are_still_served(
    url_and_port: tuple[str, int], request_bytes: bytes, status: int, error: str
) -> None:
    url, port = url_and_port
    assert _assert_refused(port, request_bytes, status)["error"] == error
    _served(url)


def test_a_header_that_never_ends_is_cut_at_the_size_limit(url_and_port: tuple[str, int]) -> None:
    """httptools holds an unfinished header back; the router counts the reads instead."""
    url, port = url_and_port
    sent, answer = push_until_cut(port, b"GET / HTTP/1.1\r\nHost: r\r\nX-Endless: ", 1024)
    assert sent < ENDLESS, "the router kept reading an endless header"
    if answer:
        assert _status(answer) == 431
    _served(url)


def test_a_declared_body_over_the_limit_is_413_before_routing(
    upstream: StartUpstream, router: StartRouter
) -> None:
    blue = upstream("blue")
    r = router(blue.target(), proxy=LIMITS)
    request = b"POST /tx HTTP/1.1\r\nHost: r\r\nContent-Length: 100000000\r\n\r\n"
    body = _assert_refused(r.server.port, request, 413)
    assert body["error"] == "request body larger than 65536 bytes"
    assert r.client().stats().targets[0].requests == 0  # never reached the upstream
    _served(r.url)


def test_a_chunked_body_growing_past_the_limit_is_413(url_and_port: tuple[str, int]) -> None:
    url, port = url_and_port
    piece = b"x" * 8192
    chunks = b"".join(b"%x\r\n%b\r\n" % (len(piece), piece) for _ in range(9))  # 72 KiB
    head = b"POST /tx HTTP/1.1\r\nHost: r\r\nTransfer-Encoding: chunked\r\n\r\n"
    body = _assert_refused(port, head + chunks, 413)
    assert body["error"] == "request body larger than 65536 bytes"
    _served(url)


def test_a_body_at_the_limit_passes(url_and_port: tuple[str, int]) -> None:
    url, _ = url_and_port
    answer = httpx.post(f"{url}/tx", content=b"x" * (64 * 1024), timeout=5)
    assert answer.status_code == 200 and len(answer.json()["body"]) == 64 * 1024


def test_slowloris_clients_are_closed_and_others_are_served(url_and_port: tuple[str, int]) -> None:
    """200 clients trickle a header a byte at a time; a normal client is served meanwhile,
    and every slow connection is closed by the 1 s header timeout (408), though it never
    stopped sending."""
    url, port = url_and_port
    slow = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(200)]
    try:
        for sock in slow:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: r\r\n")
        _served(url)  # while they all hang
        closed: set[int] = set()
        deadline = time.monotonic() + 10  # 1 s timeout, 0.05 s ticks: generous bound
        step = 0
        while len(closed) < len(slow) and time.monotonic() < deadline:
            for i, sock in enumerate(slow):
                if i in closed:
                    continue
                try:
                    sock.sendall(b"X-Slow-%d: %d\r\n" % (step, i))  # one more header line
                except (BrokenPipeError, ConnectionResetError):
                    closed.add(i)
            step += 1
            time.sleep(0.1)
        assert len(closed) == len(slow), f"{len(slow) - len(closed)} slow clients still open"
    finally:
        for sock in slow:
            sock.close()
    _served(url)


def test_a_slow_head_gets_408(url_and_port: tuple[str, int]) -> None:
    _, port = url_and_port
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: r\r\n")
        raw = sock.recv(65536)
    assert _status(raw) == 408


def test_a_silent_connection_is_closed_after_the_header_timeout(
    url_and_port: tuple[str, int],
) -> None:
    _, port = url_and_port
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        started = time.monotonic()
        assert sock.recv(1) == b""  # closed without an answer, well before keep-alive's 75 s
        assert time.monotonic() - started < 5


def test_a_keep_alive_client_gets_a_fresh_header_timeout_per_request(
    url_and_port: tuple[str, int],
) -> None:
    _, port = url_and_port
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        for _ in range(3):
            time.sleep(0.7)  # idle between requests is keep-alive time, not head time
            sock.sendall(b"GET /k HTTP/1.1\r\nHost: r\r\n\r\n")
            answer = sock.recv(65536)
            assert _status(answer) == 200


def test_head_limits_hold_for_the_default_settings(
    upstream: StartUpstream, router: StartRouter
) -> None:
    r = router(upstream("blue").target())
    defaults = ProxySettings()
    near = b"GET /" + b"a" * (defaults.max_url_bytes - 1) + b" HTTP/1.1\r\nHost: r\r\n\r\n"
    assert _status(raw_exchange(r.server.port, near)) == 200
    over = b"GET /" + b"a" * defaults.max_url_bytes + b" HTTP/1.1\r\nHost: r\r\n\r\n"
    _assert_refused(r.server.port, over, 414)
