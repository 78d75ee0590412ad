"""Request guards: the client address, per-client and per-key token buckets."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable

from starlette.requests import Request

LOOPBACK_PREFIXES = ("127.", "::1", "localhost")
# On every answer. HSTS is left out on purpose: the node speaks plain HTTP behind the router,
# which terminates TLS.
SECURITY_HEADERS = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'"),
    (b"referrer-policy", b"no-referrer"),
    (b"cache-control", b"no-store"),
)


def client_address(request: Request) -> str:
    """The client address: the right-most X-Forwarded-For hop that is not a loopback proxy.

    Each proxy (nginx, the router) appends the address it saw, so the chain reads
    `client, nginx, router`: walking from the right past our own loopback proxies gives the
    address the outermost proxy saw. Every hop left of that came from the client and could be
    anything (taking the first would give each forged value a rate-limit bucket of its own).
    """
    peer = request.client.host if request.client else "unknown"
    forwarded = request.headers.get("x-forwarded-for")
    if not forwarded or not peer.startswith(LOOPBACK_PREFIXES):
        return peer
    hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
    for hop in reversed(hops):
        if not hop.startswith(LOOPBACK_PREFIXES):
            return hop
    return hops[0] if hops else peer


class RateLimiter:
    """Token bucket per client (an address or a key name); bounded memory: beyond `max_clients`
    the least recently seen client is forgotten (and starts again with a full bucket)."""

    def __init__(
        self,
        rate_per_s: float,
        burst: float | None = None,
        max_clients: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rate = rate_per_s
        self.burst = burst if burst is not None else max(rate_per_s, 1.0)
        self.clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._max_clients = max_clients

    def allow(self, client: str, now: float | None = None) -> bool:
        return self.wait_s(client, now) == 0.0

    def wait_s(self, client: str, now: float | None = None) -> float:
        """Take a token: 0.0 when there was one, else the seconds until there will be."""
        if self.rate <= 0:
            return 0.0
        now = self.clock() if now is None else now
        tokens, last = self._buckets.pop(client, (self.burst, now))
        now = max(now, last)  # a clock that steps back refills nothing
        tokens = min(self.burst, tokens + (now - last) * self.rate)
        allowed = tokens >= 1.0
        self._buckets[client] = (tokens - 1.0 if allowed else tokens, now)
        if len(self._buckets) > self._max_clients:
            self._buckets.popitem(last=False)
        return 0.0 if allowed else (1.0 - tokens) / self.rate

    def __len__(self) -> int:
        return len(self._buckets)
