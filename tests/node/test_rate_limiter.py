"""The per-client token bucket behind the node's rate limit (pure, on a given clock)."""

from __future__ import annotations

from v11node.api.guards import RateLimiter


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
