"""The controller's view of the router: switch traffic to a slot, read the window's traffic.

Either router kind serves: the builtin router through its admin socket, or nginx through
render + test + confirmed reload. Both clients block, so calls run in a thread and the
controller's event loop never stalls. Only the builtin router counts requests per target; with
nginx the post-switch window judges health alone (and says so in its evidence).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Protocol

from v11ops.router.client import RouterClient
from v11ops.router.routing import DrainResult
from v11ops.router.stats import RouterStats
from v11ops.router.table import RouteTable, Target


@dataclass(frozen=True)
class SwitchResult:
    revision: int
    took_s: float


@dataclass(frozen=True)
class WindowTraffic:
    """Traffic one slot received through the router since a snapshot."""

    requests: int
    errors_5xx: int
    p99_s: float | None

    @property
    def error_rate(self) -> float | None:
        return self.errors_5xx / self.requests if self.requests else None


class RouterBackend(Protocol):
    def get_routes(self) -> RouteTable: ...
    def set_routes(self, table: RouteTable) -> RouteTable: ...
    def drain(self, target: str, timeout_s: float = 30.0) -> DrainResult: ...


class Traffic:
    def __init__(self, backend: RouterBackend) -> None:
        self._client = backend

    @property
    def counts_requests(self) -> bool:
        """True when the router counts requests per target (the builtin router does)."""
        return isinstance(self._client, RouterClient)

    def close(self) -> None:
        if isinstance(self._client, RouterClient):
            self._client.close()

    async def routes(self) -> RouteTable:
        return await asyncio.to_thread(self._client.get_routes)

    async def active_slot(self) -> str | None:
        """The slot that receives all traffic (None when there is none or a split)."""
        active = (await self.routes()).active
        names = {t.name for t in active}
        return next(iter(names)) if len(names) == 1 else None

    async def switch_to(self, slot: str, url: str, version: str) -> SwitchResult:
        """Send every new request to `slot` in one atomic step."""
        return await self.set_targets([Target(slot, url, 100, version)])

    async def set_targets(
        self,
        targets: list[Target],
        sticky_header: str | None = None,
        sticky_cookie: str | None = None,
    ) -> SwitchResult:
        """Replace the whole table in one atomic step (a canary split, a rolling pool)."""
        started = time.perf_counter()
        table = RouteTable(tuple(targets), sticky_header, sticky_cookie)
        applied = await asyncio.to_thread(self._client.set_routes, table)
        return SwitchResult(applied.revision, time.perf_counter() - started)

    async def clear(self) -> None:
        await asyncio.to_thread(self._client.set_routes, RouteTable(()))

    async def drain(self, slot: str, timeout_s: float) -> dict[str, object]:
        result = await asyncio.to_thread(self._client.drain, slot, timeout_s)
        return {
            "drained": result.drained,
            "in_flight": result.in_flight,
            "waited_s": result.waited_s,
        }

    async def snapshot(self) -> RouterStats | None:
        if not isinstance(self._client, RouterClient):
            return None
        return await asyncio.to_thread(self._client.stats)

    async def window(self, slot: str, since: RouterStats | None) -> WindowTraffic | None:
        """The slot's traffic since `since`; None when the router cannot count it."""
        now = await self.snapshot()
        if now is None or since is None:
            return None
        part = now.since(since).slot(slot)
        return WindowTraffic(part.requests, part.responses_5xx, part.latency_quantile(0.99))
