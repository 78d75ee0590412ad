"""Header injection through the builtin router: request ids and client-sent forwarding headers.

The test client connects from loopback, which the router trusts as a proxy by default (nginx in
front of it); `EDGE` makes it the edge, as it is when it faces clients itself.
"""

from __future__ import annotations

import json

import pytest

from tests.router.conftest import StartRouter, StartUpstream
from tests.router.harness import raw_exchange
from v11ops.router.proxy import ProxySettings

EDGE = ProxySettings(tick_s=0.05, trust_forwarded_from=())
SPOOFED = (
    b"X-Forwarded-For: 203.0.113.7\r\nX-Forwarded-For: 10.0.0.1\r\n"
    b"X-Forwarded-Proto: https\r\nX-Forwarded-Host: evil.test\r\n"
    b"X-Forwarded-Port: 443\r\nForwarded: for=198.51.100.1;proto=https\r\n"
    b"X-Real-IP: 192.0.2.1\r\n"
)


def _exchange(port: int, headers: bytes) -> tuple[bytes, dict[str, str]]:
    """(response head, headers the upstream saw) for a GET with extra raw `headers`."""
    raw = raw_exchange(port, b"GET /h HTTP/1.1\r\nHost: r\r\n" + headers + b"\r\n")
    head, _, body = raw.partition(b"\r\n\r\n")
    return head, {k: v for k, v in json.loads(body)["headers"]}


def _response_request_id(head: bytes) -> bytes:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.lower() == b"x-request-id":
            return value.strip()
    raise AssertionError(f"no x-request-id in {head!r}")


@pytest.fixture
def port(upstream: StartUpstream, router: StartRouter) -> int:
    return router(upstream("blue").target(), proxy=EDGE).server.port


def test_a_plain_request_id_is_kept(port: int) -> None:
    _, seen = _exchange(port, b"X-Request-Id: 0f8e-4c1a:retry/2\r\n")
    assert seen["x-request-id"] == "0f8e-4c1a:retry/2"


@pytest.mark.parametrize(
    "value",
    [
        b"a" * 10_000,  # 10 kB
        b"has space",
        b'quote"d',
        b"semi;colon,comma",
        b"obs-text-\xff",
        b"tab\there",
    ],
    ids=["10kB", "space", "quote", "separators", "obs-text", "tab"],
)
def test_an_unsafe_request_id_is_replaced_not_forwarded(port: int, value: bytes) -> None:
    head, seen = _exchange(port, b"X-Request-Id: " + value + b"\r\n")
    forwarded = seen["x-request-id"].encode("latin-1")
    assert forwarded != value.strip() and 1 <= len(forwarded) <= 64
    assert forwarded.replace(b"-", b"").isalnum()  # the router's own id: hex, a dash, hex
    assert _response_request_id(head) == forwarded


@pytest.mark.parametrize(
    "value",
    [b"abc\nX-Injected: 1", b"abc\rX-Injected: 1", b"ab\x01c", b"ab\x7fc", b"ab\x00c"],
    ids=["lf", "cr", "ctl", "del", "nul"],
)
def test_a_request_id_that_would_split_a_header_is_a_400(port: int, value: bytes) -> None:
    raw = raw_exchange(port, b"GET /h HTTP/1.1\r\nHost: r\r\nX-Request-Id: " + value + b"\r\n\r\n")
    head = raw.partition(b"\r\n\r\n")[0]
    assert head.startswith(b"HTTP/1.1 400") and b"connection: close" in head
    assert b"x-injected" not in raw.lower()


def test_crlf_in_a_request_id_only_ends_that_header(port: int) -> None:
    """CRLF is the end of a header line on the wire: the id is what came before it."""
    head, seen = _exchange(port, b"X-Request-Id: abc\r\nX-Forwarded-For: 203.0.113.7\r\n")
    assert seen["x-request-id"] == "abc" and _response_request_id(head) == b"abc"
    assert seen["x-forwarded-for"] == "127.0.0.1"


def test_client_sent_forwarding_headers_are_replaced_by_the_router(port: int) -> None:
    """The router is the edge: a client cannot choose the address the node rate-limits by."""
    _, seen = _exchange(port, SPOOFED)
    assert seen["x-forwarded-for"] == "127.0.0.1"
    assert seen["x-forwarded-proto"] == "http"
    for name in ("forwarded", "x-real-ip", "x-forwarded-host", "x-forwarded-port"):
        assert name not in seen, name
    spoofed = ("203.0.113.7", "10.0.0.1", "198.51.100.1", "192.0.2.1", "evil.test")
    assert not any(ip in json.dumps(seen) for ip in spoofed)


def test_forwarding_headers_cannot_be_smuggled_by_case(port: int) -> None:
    _, seen = _exchange(port, b"x-FORWARDED-for: 203.0.113.7\r\nX-REAL-ip: 192.0.2.1\r\n")
    assert seen["x-forwarded-for"] == "127.0.0.1" and "x-real-ip" not in seen


def test_a_trusted_proxy_keeps_its_forwarding_headers_and_the_peer_is_appended(
    upstream: StartUpstream, router: StartRouter
) -> None:
    """nginx in front (a loopback peer by default) terminated TLS and named the client."""
    r = router(upstream("blue").target(), proxy=ProxySettings(tick_s=0.05))
    _, seen = _exchange(r.server.port, SPOOFED)
    assert seen["x-forwarded-for"] == "203.0.113.7, 10.0.0.1, 127.0.0.1"
    assert seen["x-forwarded-proto"] == "https"
    assert seen["x-real-ip"] == "192.0.2.1" and seen["forwarded"].startswith("for=198")


def test_only_the_configured_networks_are_trusted(
    upstream: StartUpstream, router: StartRouter
) -> None:
    other = ProxySettings(tick_s=0.05, trust_forwarded_from=("10.0.0.0/8", "::1/128"))
    r = router(upstream("blue").target(), proxy=other)
    _, seen = _exchange(r.server.port, SPOOFED)
    assert seen["x-forwarded-for"] == "127.0.0.1" and "x-real-ip" not in seen
