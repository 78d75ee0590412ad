"""Per-target traffic statistics as `GET /stats` reports them.

Counters are cumulative since the router started. A deploy controller takes a snapshot at the
start of its post-switch window and another at the end; `RouterStats.since` turns the two into
the window's request count, 5xx count and latency quantiles.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

# Upper bounds (seconds) of the latency histogram, shared by /stats and /metrics.
LATENCY_BUCKETS: tuple[float, ...] = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
    0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class TargetStats:
    """Counters of one target (slot + url + version) since the router started."""

    target: str
    slot: str
    version: str
    weight: int = 0
    in_table: bool = True
    draining: bool = False
    ejected: bool = False
    in_flight: int = 0
    requests: int = 0
    codes: Mapping[str, int] = field(default_factory=dict)
    errors: Mapping[str, int] = field(default_factory=dict)
    latency_sum_s: float = 0.0
    latency_count: int = 0
    # Per-bucket (not cumulative) counts; one more entry than LATENCY_BUCKETS for +Inf.
    latency_buckets: tuple[int, ...] = (0,) * (len(LATENCY_BUCKETS) + 1)

    @property
    def key(self) -> tuple[str, str, str]:
        """Identity of the target across snapshots."""
        return (self.target, self.slot, self.version)

    def count_class(self, klass: int) -> int:
        """Responses whose status is in class `klass` (2 for 2xx, 5 for 5xx)."""
        return sum(n for code, n in self.codes.items() if code[:1] == str(klass))

    @property
    def responses_5xx(self) -> int:
        """Responses with a 5xx status, including the router's own 502/503/504."""
        return self.count_class(5)

    @property
    def error_rate(self) -> float | None:
        """Share of requests answered 5xx; None when there were no requests to judge."""
        return self.responses_5xx / self.requests if self.requests else None

    def latency_quantile(self, q: float) -> float | None:
        """Latency quantile estimated from the histogram as Prometheus does; None if empty."""
        return histogram_quantile(q, self.latency_buckets)

    def since(self, earlier: TargetStats | None) -> TargetStats:
        """The counters accumulated after the `earlier` snapshot of the same target."""
        if earlier is None:
            return self
        return replace(
            self,
            requests=self.requests - earlier.requests,
            codes=_diff(self.codes, earlier.codes),
            errors=_diff(self.errors, earlier.errors),
            latency_sum_s=self.latency_sum_s - earlier.latency_sum_s,
            latency_count=self.latency_count - earlier.latency_count,
            latency_buckets=tuple(
                a - b for a, b in zip(self.latency_buckets, earlier.latency_buckets, strict=True)
            ),
        )

    def to_json(self) -> dict[str, Any]:
        """JSON shape of one entry of `GET /stats`."""
        return {
            "target": self.target,
            "slot": self.slot,
            "version": self.version,
            "weight": self.weight,
            "in_table": self.in_table,
            "draining": self.draining,
            "ejected": self.ejected,
            "in_flight": self.in_flight,
            "requests": self.requests,
            "responses": {f"{k}xx": self.count_class(k) for k in (1, 2, 3, 4, 5)},
            "codes": dict(self.codes),
            "errors": dict(self.errors),
            "latency": {
                "sum_s": self.latency_sum_s,
                "count": self.latency_count,
                "le": [*LATENCY_BUCKETS, "+Inf"],
                "buckets": list(self.latency_buckets),
            },
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TargetStats:
        """Parse one entry of `GET /stats`."""
        latency = data["latency"]
        return cls(
            target=data["target"],
            slot=data["slot"],
            version=data["version"],
            weight=data["weight"],
            in_table=data["in_table"],
            draining=data["draining"],
            ejected=data["ejected"],
            in_flight=data["in_flight"],
            requests=data["requests"],
            codes=dict(data["codes"]),
            errors=dict(data["errors"]),
            latency_sum_s=latency["sum_s"],
            latency_count=latency["count"],
            latency_buckets=tuple(latency["buckets"]),
        )


@dataclass(frozen=True, slots=True)
class RouterStats:
    """A snapshot of `GET /stats`: router-wide counters plus one entry per target."""

    revision: int
    switches: int
    retries: int
    uptime_s: float
    targets: tuple[TargetStats, ...]
    unrouted: int = 0  # requests answered 503 because no target was available

    def slot(self, name: str) -> TargetStats:
        """All targets of slot `name` summed into one (a slot may have changed url/version)."""
        return merge(name, (t for t in self.targets if t.slot == name))

    def since(self, earlier: RouterStats) -> RouterStats:
        """Counters accumulated between `earlier` and this snapshot."""
        before = {t.key: t for t in earlier.targets}
        return replace(
            self,
            switches=self.switches - earlier.switches,
            retries=self.retries - earlier.retries,
            unrouted=self.unrouted - earlier.unrouted,
            targets=tuple(t.since(before.get(t.key)) for t in self.targets),
        )

    def to_json(self) -> dict[str, Any]:
        """JSON shape of `GET /stats`."""
        return {
            "revision": self.revision,
            "switches": self.switches,
            "retries": self.retries,
            "uptime_s": self.uptime_s,
            "unrouted": self.unrouted,
            "targets": [t.to_json() for t in self.targets],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RouterStats:
        """Parse `GET /stats`."""
        return cls(
            revision=data["revision"],
            switches=data["switches"],
            retries=data["retries"],
            uptime_s=data["uptime_s"],
            unrouted=data.get("unrouted", 0),
            targets=tuple(TargetStats.from_json(t) for t in data["targets"]),
        )


def merge(slot: str, parts: Iterable[TargetStats]) -> TargetStats:
    """Sum several targets' counters under one slot name."""
    total = TargetStats(target="*", slot=slot, version="*", in_table=False)
    codes: dict[str, int] = {}
    errors: dict[str, int] = {}
    buckets = [0] * (len(LATENCY_BUCKETS) + 1)
    for part in parts:
        for k, n in part.codes.items():
            codes[k] = codes.get(k, 0) + n
        for k, n in part.errors.items():
            errors[k] = errors.get(k, 0) + n
        buckets = [a + b for a, b in zip(buckets, part.latency_buckets, strict=True)]
        total = replace(
            total,
            weight=total.weight + part.weight,
            in_table=total.in_table or part.in_table,
            in_flight=total.in_flight + part.in_flight,
            requests=total.requests + part.requests,
            latency_sum_s=total.latency_sum_s + part.latency_sum_s,
            latency_count=total.latency_count + part.latency_count,
        )
    return replace(total, codes=codes, errors=errors, latency_buckets=tuple(buckets))


def histogram_quantile(q: float, buckets: tuple[int, ...]) -> float | None:
    """Quantile `q` of a per-bucket histogram, interpolating linearly inside the bucket."""
    total = sum(buckets)
    if total <= 0:
        return None
    rank = q * total
    seen = 0
    lower = 0.0
    for upper, count in zip((*LATENCY_BUCKETS, math.inf), buckets, strict=True):
        if count and seen + count >= rank:
            if math.isinf(upper):
                return lower  # as Prometheus: the +Inf bucket reports the highest finite bound
            return lower + (upper - lower) * (rank - seen) / count
        seen += count
        lower = upper
    return lower


def _diff(now: Mapping[str, int], before: Mapping[str, int]) -> dict[str, int]:
    return {k: n - before.get(k, 0) for k, n in now.items() if n - before.get(k, 0)}
