"""`/api/v11/stats`, computed from the chain itself (so every node reports the same figures) and
cached for a second so that a dashboard refreshing fast cannot load the database."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from v11node.node import Node
from v11node.storage.base import LedgerStorage


def percentile(values: list[int], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    idx = min(round(q * (len(ordered) - 1)), len(ordered) - 1)
    return float(ordered[idx])


class StatsCache:
    def __init__(self, node: Node, ttl_s: float = 1.0) -> None:
        self._node = node
        self._ttl = ttl_s
        self._cached: tuple[float, dict[str, Any]] | None = None
        self._lock = asyncio.Lock()

    async def get(self, storage: LedgerStorage) -> dict[str, Any]:
        async with self._lock:
            now = time.monotonic()
            if self._cached is None or now - self._cached[0] > self._ttl:
                self._cached = (now, await asyncio.to_thread(self._compute, storage))
            return self._cached[1]

    def _compute(self, storage: LedgerStorage) -> dict[str, Any]:
        now_ms = storage.db_now_ms()
        last10 = storage.committed_since(now_ms - 10_000)
        last60 = storage.committed_since(now_ms - 60_000)
        tip = storage.latest_block()
        latencies = storage.recent_commit_latencies_ms(2_000)
        return {
            "tps": {"10s": round(last10 / 10, 2), "60s": round(last60 / 60, 2)},
            "blockHeight": tip.header.height if tip else 0,
            "pending": storage.pending_count(),
            "committedTotal": storage.committed_total(),
            "commitLatencyMs": {
                "p50": percentile(latencies, 0.50),
                "p95": percentile(latencies, 0.95),
                "p99": percentile(latencies, 0.99),
            },
            "nodeId": self._node.settings.node_id,
            "version": self._node.settings.release,
        }
