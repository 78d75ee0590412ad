"""Request counters of one slot over a window, and the four metrics read from them.

The router and scrape providers both reduce their snapshots to a `TrafficDelta`, so
error_rate, success_rate, latency and throughput mean the same thing whichever counted them.
Ratios and quantiles of zero requests are NaN, as in PromQL.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from v11ops.config import RouterCheck, ScrapeCheck


@dataclass(frozen=True)
class TrafficDelta:
    """Requests, 5xx answers and a latency histogram accumulated over `window_s` seconds."""

    requests: int
    errors_5xx: int
    bounds: tuple[float, ...]  # bucket upper bounds in seconds, the last one +Inf
    cumulative: tuple[int, ...]  # requests at or below each bound
    window_s: float

    def value(self, metric: str, quantile: float) -> float:
        """The metric's value: a share, seconds, or requests per second."""
        if metric == "throughput":
            return self.requests / self.window_s if self.window_s > 0 else math.nan
        if metric == "latency":
            return histogram_quantile(quantile, self.bounds, self.cumulative)
        if not self.requests:
            return math.nan
        rate = self.errors_5xx / self.requests
        return rate if metric == "error_rate" else 1.0 - rate

    def samples(self, metric: str) -> int:
        """Requests behind the value (latency: those in the histogram)."""
        return self.cumulative[-1] if metric == "latency" else self.requests

    def details(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "errors_5xx": self.errors_5xx,
            "window_s": round(self.window_s, 3),
        }


def histogram_quantile(q: float, bounds: tuple[float, ...], cumulative: tuple[int, ...]) -> float:
    """PromQL's histogram_quantile: linear inside the bucket; in the +Inf bucket the highest
    finite bound; NaN without observations."""
    total = cumulative[-1] if cumulative else 0
    if total <= 0:
        return math.nan
    rank = q * total
    lower, below = 0.0, 0
    for upper, seen in zip(bounds, cumulative, strict=True):
        if seen >= rank:
            if math.isinf(upper):
                return lower
            return lower + (upper - lower) * (rank - below) / max(seen - below, 1)
        lower, below = upper, seen
    return lower


def metric_expression(check: RouterCheck | ScrapeCheck, slot: str) -> str:
    """How a traffic metric is described in a measurement's `query`."""
    what = f"latency p{check.quantile * 100:g} (s)" if check.metric == "latency" else check.metric
    return f"{what} of slot {slot}"
