"""The node's Prometheus metrics. Names follow the original Aurigraph V11 service (`aurigraph_*`)
so that the alert rules and dashboards query metrics that really exist.

Each node app owns its registry (tests run several nodes in one process)."""

from __future__ import annotations

import gc
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    PlatformCollector,
    ProcessCollector,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from v11node.storage.base import LedgerStorage

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
ACTIVE_ACCOUNTS_WINDOW_S = 300.0


class ActiveAccounts:
    """Distinct accounts seen in the last `window_s` seconds. Kept in last-seen order, so expiring
    old ones is a pop from the front; the scrape (a worker thread) and the producer share it."""

    def __init__(self, window_s: float = ACTIVE_ACCOUNTS_WINDOW_S) -> None:
        self.window_s = window_s
        self._last_seen: OrderedDict[bytes, float] = OrderedDict()
        self._lock = threading.Lock()

    def saw(self, accounts: Iterable[bytes], now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        with self._lock:
            for account in accounts:
                self._last_seen[account] = now
                self._last_seen.move_to_end(account)

    def count(self, now: float | None = None) -> int:
        cutoff = (time.monotonic() if now is None else now) - self.window_s
        with self._lock:
            while self._last_seen and next(iter(self._last_seen.values())) < cutoff:
                self._last_seen.popitem(last=False)
            return len(self._last_seen)


class NodeMetrics:
    def __init__(self, version: str, node_id: str, storage_backend: str) -> None:
        r = self.registry = CollectorRegistry()
        ProcessCollector(registry=r)
        PlatformCollector(registry=r)
        self.transactions = Counter(
            "aurigraph_transactions", "Transactions by outcome status.", ["status"], registry=r
        )
        self.processed = Counter(
            "aurigraph_transactions_processed", "Transactions confirmed in a block.", registry=r
        )
        self.failed = Counter(
            "aurigraph_transactions_failed",
            "Transactions rejected by the ledger rules.",
            registry=r,
        )
        self.queue_size = Gauge(
            "aurigraph_transaction_queue_size", "Pending transactions awaiting a block.", registry=r
        )
        self.tx_duration = Histogram(
            "aurigraph_transaction_duration_seconds",
            "Time from acceptance to commit in a block.",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.blocks = Counter("aurigraph_blocks", "Blocks produced by this node.", registry=r)
        self.block_height = Gauge("aurigraph_block_height", "Height of the chain tip.", registry=r)
        self.rounds = Counter(
            "aurigraph_consensus_rounds", "Block production rounds run as producer.", registry=r
        )
        self.consensus_failures = Counter(
            "aurigraph_consensus_failures",
            "Block production rounds that failed (fenced out or database error).",
            registry=r,
        )
        self.round_duration = Histogram(
            "aurigraph_consensus_round_duration_seconds",
            "Duration of a block production round.",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.leader_changes = Counter(
            "aurigraph_consensus_leader_changes", "Producer lease epoch changes seen.", registry=r
        )
        self.is_leader = Gauge(
            "aurigraph_consensus_is_leader",
            "1 while this node holds the producer lease.",
            registry=r,
        )
        self.validators = Gauge(
            "aurigraph_validators_active", "Nodes that sent a heartbeat recently.", registry=r
        )
        self.auth_success = Counter(
            "aurigraph_auth_success", "Requests with a valid API key.", registry=r
        )
        self.auth_failures = Counter(
            "aurigraph_auth_failures", "Requests with a missing or wrong API key.", registry=r
        )
        self.rate_limited = Counter(
            "aurigraph_api_rate_limited", "Requests refused with 429.", registry=r
        )
        self.pool_full = Counter(
            "aurigraph_transaction_pool_full",
            "Write requests refused with 503 because the pending pool was full.",
            registry=r,
        )
        # Business metrics, counted by the block producer for the transactions it confirms.
        self.value_transferred = Counter(
            "aurigraph_value_transferred",
            "Sum of the amounts of confirmed transactions.",
            registry=r,
        )
        self.active_accounts = ActiveAccounts()
        Gauge(
            "aurigraph_accounts_active",
            "Distinct senders of the transactions this node confirmed as block producer in the "
            "last 5 minutes.",
            registry=r,
        ).set_function(self.active_accounts.count)
        self.signature_failures = Counter(
            "aurigraph_crypto_signature_verification_failures",
            "Transactions whose Ed25519 signature did not verify.",
            registry=r,
        )
        self.http = Histogram(
            "http_server_requests_seconds",
            "HTTP requests by method, route template and status.",
            ["method", "uri", "status"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.gc_pause = Histogram(
            "python_gc_pause_seconds",
            "Garbage collector pauses by generation.",
            ["generation"],
            buckets=(0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5),
            registry=r,
        )
        self.ready = Gauge("aurigraph_node_ready", "1 while the node reports ready.", registry=r)
        build = Gauge(
            "aurigraph_build_info",
            "Build information; the value is always 1.",
            ["version", "node_id", "storage"],
            registry=r,
        )
        build.labels(version, node_id, storage_backend).set(1)
        self._gc_started: float | None = None
        gc.callbacks.append(self._on_gc)

    def attach_storage(self, storage: LedgerStorage) -> None:
        self.registry.register(_PoolCollector(storage))

    def detach(self) -> None:
        if self._on_gc in gc.callbacks:
            gc.callbacks.remove(self._on_gc)

    def _on_gc(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._gc_started = time.perf_counter()
        elif self._gc_started is not None:
            pause = time.perf_counter() - self._gc_started
            self.gc_pause.labels(str(info.get("generation", "?"))).observe(pause)
            self._gc_started = None


class _PoolCollector(Collector):
    """Database connection pool gauges, read at scrape time."""

    def __init__(self, storage: LedgerStorage) -> None:
        self._storage = storage

    def collect(self) -> Any:
        in_use, idle, maximum = self._storage.pool_stats()
        conns = GaugeMetricFamily(
            "aurigraph_db_pool_connections", "Database connections by state.", labels=["state"]
        )
        conns.add_metric(["active"], in_use)
        conns.add_metric(["idle"], idle)
        yield conns
        yield GaugeMetricFamily("aurigraph_db_pool_max", "Connection pool size limit.", maximum)
