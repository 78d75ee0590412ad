"""The `router` provider: the builtin router's own per-slot counters between two snapshots."""

from __future__ import annotations

import math
import time
from itertools import accumulate

import httpx

from v11ops.analysis.context import AnalysisContext
from v11ops.analysis.judge import Observation, ProviderError
from v11ops.analysis.traffic import TrafficDelta, metric_expression
from v11ops.config import RouterCheck
from v11ops.router.errors import RouterError
from v11ops.router.stats import LATENCY_BUCKETS, RouterStats

_BOUNDS = (*LATENCY_BUCKETS, math.inf)
Snapshot = tuple[float, RouterStats]


class RouterProvider:
    """Requests, 5xx and latency of one slot as the router counted them."""

    def __init__(self, check: RouterCheck, ctx: AnalysisContext) -> None:
        self.check, self.ctx = check, ctx
        slot = ctx.slot(check.slot)
        self.slot = slot.name if slot else None
        self.query = f"router: {metric_expression(check, self.slot or check.slot)}"
        self._base: Snapshot | None = None
        self._last: Snapshot | None = None

    async def begin(self) -> None:
        try:
            self._base = await self._snapshot()
        except ProviderError:
            self._base = None

    async def observe(self) -> Observation:
        now = await self._snapshot()
        if self._base is None:
            self._base = now
            raise ProviderError("no earlier router snapshot to compare with; counting from now")
        self._last = now
        (began, before), (ended, after) = self._base, now
        assert self.slot is not None  # _snapshot checked it
        slot = after.since(before).slot(self.slot)
        delta = TrafficDelta(
            requests=slot.requests,
            errors_5xx=slot.responses_5xx,
            bounds=_BOUNDS,
            cumulative=tuple(accumulate(slot.latency_buckets)),
            window_s=ended - began,
        )
        metric = self.check.metric
        return Observation(
            delta.value(metric, self.check.quantile), delta.samples(metric), delta.details()
        )

    def advance(self) -> None:
        if self._last is not None:
            self._base = self._last

    async def aclose(self) -> None:
        return None

    async def _snapshot(self) -> Snapshot:
        if self.slot is None:
            raise ProviderError("the check reads the stable slot, and this deployment has none")
        try:
            stats = await self.ctx.router_stats()
        except (RouterError, OSError, httpx.HTTPError) as exc:
            raise ProviderError(f"cannot read the router's counters: {exc}") from None
        if stats is None:
            raise ProviderError(
                "this router does not count requests per slot (nginx); "
                "use a scrape or prometheus check"
            )
        return time.monotonic(), stats
