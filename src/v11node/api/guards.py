"""Request guards: API keys, the admin key, per-client rate limits."""

from __future__ import annotations

import hmac
import time
from collections import OrderedDict

from starlette.requests import Request

LOOPBACK_PREFIXES = ("127.", "::1", "localhost")


def client_address(request: Request) -> str:
    """The client address; behind a loopback proxy (the router) the first X-Forwarded-For hop."""
    peer = request.client.host if request.client else "unknown"
    forwarded = request.headers.get("x-forwarded-for")
    if forwarded and peer.startswith(LOOPBACK_PREFIXES):
        return forwarded.split(",")[0].strip()
    return peer


def key_matches(presented: str | None, keys: tuple[str, ...]) -> bool:
    """Constant-time comparison against every configured key."""
    if presented is None:
        return False
    found = False
    for key in keys:
        found |= hmac.compare_digest(presented.encode(), key.encode())
    return found


class RateLimiter:
    """Token bucket per client address; bounded memory (least recently seen clients evicted)."""

    def __init__(self, rate_per_s: float, burst: float | None = None, max_clients: int = 10_000):
        self.rate = rate_per_s
        self.burst = burst if burst is not None else max(rate_per_s, 1.0)
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._max_clients = max_clients

    def allow(self, client: str, now: float | None = None) -> bool:
        if self.rate <= 0:
            return True
        now = time.monotonic() if now is None else now
        tokens, last = self._buckets.pop(client, (self.burst, now))
        tokens = min(self.burst, tokens + (now - last) * self.rate)
        allowed = tokens >= 1.0
        self._buckets[client] = (tokens - 1.0 if allowed else tokens, now)
        if len(self._buckets) > self._max_clients:
            self._buckets.popitem(last=False)
        return allowed
