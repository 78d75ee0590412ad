"""Runtime state of one target: in-flight count, drain and eject marks, counters, its pool.

A target's identity is (slot, url, version): a new release in the same slot on the same port is
a new target with fresh counters and a fresh connection pool (the old pooled sockets belong to
the old process).
"""

from __future__ import annotations

import asyncio
import bisect
import time

from v11ops.router.stats import LATENCY_BUCKETS, TargetStats
from v11ops.router.table import Target
from v11ops.router.upstream import UpstreamPool

TargetKey = tuple[str, str, str]


class TargetState:
    """Mutable per-target state; plain ints on the hot path, read by /stats and /metrics."""

    __slots__ = (
        "_idle",
        "codes",
        "draining",
        "ejected_until",
        "errors",
        "host",
        "in_flight",
        "in_table",
        "key",
        "label",
        "lat_buckets",
        "lat_count",
        "lat_sum",
        "pool",
        "port",
        "requests",
        "slot",
        "url",
        "version",
        "weight",
    )

    def __init__(self, target: Target, pool: UpstreamPool) -> None:
        self.key: TargetKey = (target.name, target.url, target.version)
        self.slot = target.name
        self.url = target.url
        self.version = target.version
        self.host = target.host
        self.port = target.port
        self.label = f"{self.host}:{self.port}"
        self.weight = target.weight
        self.in_table = True
        self.draining = False
        self.ejected_until = 0.0
        self.in_flight = 0
        self.pool = pool
        self.requests = 0
        self.codes: dict[int, int] = {}
        self.errors: dict[str, int] = {}
        self.lat_sum = 0.0
        self.lat_count = 0
        self.lat_buckets = [0] * (len(LATENCY_BUCKETS) + 1)
        self._idle: asyncio.Event | None = None

    def is_ejected(self) -> bool:
        """True while a recent connect failure keeps this target out of the rotation."""
        if not self.ejected_until:
            return False
        if self.ejected_until > time.monotonic():
            return True
        self.ejected_until = 0.0
        return False

    def eject(self, seconds: float) -> None:
        """Keep the target out of the rotation for `seconds` after a failed connect."""
        self.ejected_until = time.monotonic() + seconds

    def begin(self) -> None:
        """A request was assigned to this target."""
        self.in_flight += 1

    def abandon(self) -> None:
        """The request moved to another target (retry) without an answer from this one."""
        self.in_flight -= 1
        if self.in_flight == 0 and self._idle is not None:
            self._idle.set()

    def end(self, code: int, seconds: float) -> None:
        """The request finished with `code` after `seconds`; wake drain waiters at zero."""
        self.in_flight -= 1
        self.requests += 1
        codes = self.codes
        codes[code] = codes.get(code, 0) + 1
        self.lat_sum += seconds
        self.lat_count += 1
        self.lat_buckets[bisect.bisect_left(LATENCY_BUCKETS, seconds)] += 1
        if self.in_flight == 0 and self._idle is not None:
            self._idle.set()

    def error(self, kind: str) -> None:
        """Count an upstream error of `kind` (connect, timeout, reset)."""
        self.errors[kind] = self.errors.get(kind, 0) + 1

    async def wait_idle(self, timeout_s: float) -> bool:
        """Wait until no request is in flight; False if `timeout_s` passed first."""
        if self.in_flight == 0:
            return True
        if self._idle is None:
            self._idle = asyncio.Event()
        self._idle.clear()
        try:
            async with asyncio.timeout(timeout_s):
                while self.in_flight:
                    await self._idle.wait()
                    self._idle.clear()
        except TimeoutError:
            return False
        return True

    def snapshot(self) -> TargetStats:
        """The counters as a `TargetStats` for /stats."""
        return TargetStats(
            target=self.url,
            slot=self.slot,
            version=self.version,
            weight=self.weight if self.in_table else 0,
            in_table=self.in_table,
            draining=self.draining,
            ejected=self.is_ejected(),
            in_flight=self.in_flight,
            requests=self.requests,
            codes={str(k): v for k, v in sorted(self.codes.items())},
            errors=dict(sorted(self.errors.items())),
            latency_sum_s=self.lat_sum,
            latency_count=self.lat_count,
            latency_buckets=tuple(self.lat_buckets),
        )
