"""The token buckets behind the node's rate limits (pure, on a given clock), and the client
address they are keyed by."""

from __future__ import annotations

import pytest
from starlette.requests import Request

from v11node.api.guards import RateLimiter, client_address


def test_a_client_gets_its_burst_then_the_rate() -> None:
    limiter = RateLimiter(rate_per_s=2, burst=3)
    assert [limiter.allow("a", now=0.0) for _ in range(4)] == [True, True, True, False]
    assert limiter.allow("b", now=0.0), "each client has its own bucket"
    assert not limiter.allow("a", now=0.4), "0.8 tokens refilled: not yet one"
    assert limiter.allow("a", now=0.5)


def test_a_zero_rate_means_no_limit() -> None:
    limiter = RateLimiter(rate_per_s=0)
    assert all(limiter.allow("a", now=0.0) for _ in range(1000))


def test_the_least_recent_client_is_forgotten_beyond_the_limit() -> None:
    limiter = RateLimiter(rate_per_s=1, burst=1, max_clients=2)
    assert limiter.allow("a", now=0.0) and limiter.allow("b", now=0.0)
    assert not limiter.allow("a", now=0.0)
    assert limiter.allow("c", now=0.0)  # `b` is now the least recent and is dropped
    assert limiter.allow("b", now=0.0), "a forgotten client starts with a full bucket"


def test_a_refusal_says_how_long_until_the_next_token() -> None:
    now = [0.0]
    limiter = RateLimiter(rate_per_s=4, burst=1, clock=lambda: now[0])
    assert limiter.wait_s("a") == 0.0
    assert limiter.wait_s("a") == 0.25
    now[0] = 0.2
    assert abs(limiter.wait_s("a") - 0.05) < 1e-9
    now[0] = 0.25
    assert limiter.wait_s("a") == 0.0


def test_a_clock_going_backwards_refills_nothing() -> None:
    limiter = RateLimiter(rate_per_s=1, burst=1)
    assert limiter.allow("a", now=10.0)
    assert not limiter.allow("a", now=5.0)
    assert not limiter.allow("a", now=10.5)


def test_memory_stays_bounded_under_many_clients() -> None:
    limiter = RateLimiter(rate_per_s=1, max_clients=100)
    for i in range(10_000):
        limiter.allow(f"10.0.{i // 256}.{i % 256}", now=0.0)
    assert len(limiter) == 100


@pytest.mark.parametrize(
    ("peer", "forwarded", "expected"),
    [
        ("127.0.0.1", None, "127.0.0.1"),
        ("127.0.0.1", "203.0.113.5", "203.0.113.5"),
        ("127.0.0.1", "198.51.100.1, 203.0.113.5", "203.0.113.5"),  # the proxy's own hop
        ("::1", "spoofed, 203.0.113.6", "203.0.113.6"),
        # client -> nginx -> router -> node: the router appends nginx's loopback address
        ("127.0.0.1", "spoofed, 203.0.113.7, 127.0.0.1", "203.0.113.7"),
        ("127.0.0.1", "127.0.0.1, 127.0.0.1", "127.0.0.1"),  # a local client via two proxies
        ("192.0.2.9", "203.0.113.5", "192.0.2.9"),  # not behind a local proxy: ignored
    ],
)
def test_the_client_address_is_the_right_most_hop_not_a_local_proxy(
    peer: str, forwarded: str | None, expected: str
) -> None:
    headers = [(b"x-forwarded-for", forwarded.encode())] if forwarded else []
    scope = {"type": "http", "client": (peer, 1234), "headers": headers}
    assert client_address(Request(scope)) == expected
