"""Prometheus metrics of the router, read from the plain counters the data path keeps.

The hot path only increments ints on the target state; this collector turns them into metric
families when Prometheus scrapes, so a request costs no lock and no label lookup.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from itertools import accumulate

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from v11ops.router.control_http import ControlRequest, ControlResponse
from v11ops.router.routing import Routing
from v11ops.router.stats import LATENCY_BUCKETS
from v11ops.router.target import TargetState
from v11ops.tls import CertificateValidity

_BOUNDS = [*(str(b) for b in LATENCY_BUCKETS), "+Inf"]


class RouterCollector(Collector):
    """Exposes `v11ops_router_*` metrics from the live routing state."""

    def __init__(self, routing: Routing) -> None:
        self.routing = routing

    def collect(self) -> Iterator[Metric]:
        states = list(self.routing.states.values())
        yield self._requests(states)
        yield self._durations(states)
        yield self._in_flight(states)
        yield self._weights(states)
        errors = CounterMetricFamily(
            "v11ops_router_upstream_errors",
            "Upstream failures by kind: connect, timeout, reset.",
            labels=["target", "kind"],
        )
        for state in states:
            for kind, n in state.errors.items():
                errors.add_metric([state.label, kind], n)
        yield errors
        yield CounterMetricFamily(
            "v11ops_router_switches", "Route table switches.", value=self.routing.switches
        )
        yield CounterMetricFamily(
            "v11ops_router_retries",
            "Requests retried after a failed upstream connect.",
            value=self.routing.retries,
        )
        yield GaugeMetricFamily(
            "v11ops_router_route_revision",
            "Revision of the route table in force.",
            value=self.routing.table.revision,
        )

    def _requests(self, states: list[TargetState]) -> Metric:
        family = CounterMetricFamily(
            "v11ops_router_requests",
            "Requests answered, by target, slot, version and status code.",
            labels=["target", "slot", "version", "code"],
        )
        for state in states:
            for code, n in state.codes.items():
                family.add_metric([state.label, state.slot, state.version, str(code)], n)
        unrouted = self.routing.unrouted
        if unrouted:
            family.add_metric(["none", "", "", "503"], unrouted)
        return family

    def _durations(self, states: list[TargetState]) -> Metric:
        family = HistogramMetricFamily(
            "v11ops_router_request_duration_seconds",
            "Time from request head received to response complete, by target.",
            labels=["target"],
        )
        merged: dict[str, tuple[list[int], float]] = {}
        for state in states:
            buckets, total = merged.get(state.label, ([0] * len(state.lat_buckets), 0.0))
            merged[state.label] = (
                [a + b for a, b in zip(buckets, state.lat_buckets, strict=True)],
                total + state.lat_sum,
            )
        for label, (buckets, total) in merged.items():
            cumulative = list(accumulate(buckets))
            family.add_metric([label], list(zip(_BOUNDS, cumulative, strict=True)), total)
        return family

    def _in_flight(self, states: list[TargetState]) -> Metric:
        family = GaugeMetricFamily(
            "v11ops_router_in_flight", "Requests in flight, by target.", labels=["target"]
        )
        totals: dict[str, int] = {}
        for state in states:
            totals[state.label] = totals.get(state.label, 0) + state.in_flight
        for label, n in totals.items():
            family.add_metric([label], n)
        return family

    def _weights(self, states: list[TargetState]) -> Metric:
        family = GaugeMetricFamily(
            "v11ops_router_target_weight",
            "Weight of each target in the route table (0 when out of the table).",
            labels=["target", "slot", "version", "draining"],
        )
        for state in states:
            weight = state.weight if state.in_table else 0
            labels = [state.label, state.slot, state.version, str(state.draining).lower()]
            family.add_metric(labels, weight)
        return family


class CertificateExpiry(Collector):
    """`v11ops_tls_certificate_expiry_timestamp_seconds` of each certificate the router serves,
    set when it is loaded (at start and on reload); no series without TLS."""

    def __init__(self) -> None:
        self._served: dict[str, CertificateValidity] = {}

    def set(self, validity: CertificateValidity) -> None:
        """Record the certificate now served from `validity.path` (replacing the old one)."""
        self._served[str(validity.path)] = validity

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(
            "v11ops_tls_certificate_expiry_timestamp_seconds",
            "When the certificate served from a file expires (the soonest of its chain), "
            "in seconds since the epoch.",
            labels=["path", "subject"],
        )
        for path, validity in self._served.items():
            family.add_metric([path, validity.subject], validity.not_after.timestamp())
        yield family


def build_registry(
    routing: Routing, certificates: CertificateExpiry | None = None
) -> CollectorRegistry:
    """A registry with the router's metrics plus process and platform metrics."""
    registry = CollectorRegistry(auto_describe=True)
    registry.register(RouterCollector(routing))
    registry.register(certificates or CertificateExpiry())
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    return registry


def metrics_handler(
    registry: CollectorRegistry, healthy: Callable[[], bool]
) -> Callable[[ControlRequest], Awaitable[ControlResponse]]:
    """Handler of the metrics listener: `GET /metrics` and `GET /health`."""

    async def handle(request: ControlRequest) -> ControlResponse:
        if request.method != "GET":
            return ControlResponse.error(405, "only GET is served here")
        if request.path == "/metrics":
            return ControlResponse(200, generate_latest(registry), CONTENT_TYPE_LATEST)
        if request.path == "/health":
            ok = healthy()
            return ControlResponse.json(200 if ok else 503, {"status": "ok" if ok else "closing"})
        return ControlResponse.error(404, "not found; try /metrics or /health")

    return handle
