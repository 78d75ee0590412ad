"""The router's live routing state: the current table, per-target state, switch and drain.

A switch builds a new balancer off to the side and installs it with one assignment, so every
request is routed by exactly one table. Target state outlives the table that created it: a
target removed by a switch keeps its in-flight count until its last request finishes, which is
what drain waits for.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from v11ops.router.balancer import Balancer
from v11ops.router.errors import RouterRejected
from v11ops.router.stats import RouterStats
from v11ops.router.table import RouteTable
from v11ops.router.target import TargetKey, TargetState
from v11ops.router.upstream import UpstreamPool, UpstreamRegistry

# Targets that left the table are kept for their counters, but not forever.
_MAX_RETIRED = 32


@dataclass(frozen=True, slots=True)
class DrainResult:
    """What `POST /drain` confirms: whether in-flight reached 0 within the timeout."""

    drained: bool
    in_flight: int
    waited_s: float
    targets: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """JSON shape of the `POST /drain` answer."""
        return {
            "drained": self.drained,
            "in_flight": self.in_flight,
            "waited_s": round(self.waited_s, 6),
            "targets": list(self.targets),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> DrainResult:
        """Parse the `POST /drain` answer."""
        return cls(
            drained=bool(data["drained"]),
            in_flight=int(data["in_flight"]),
            waited_s=float(data["waited_s"]),
            targets=tuple(data.get("targets", ())),
        )


class Routing:
    """Owns the route table and target states; the proxy asks it for a target per request."""

    def __init__(
        self,
        registry: UpstreamRegistry,
        *,
        connect_timeout: float = 5.0,
        persist: Callable[[RouteTable], None] | None = None,
    ) -> None:
        self.registry = registry
        self.connect_timeout = connect_timeout
        self.persist = persist
        self.table = RouteTable()
        self.states: dict[TargetKey, TargetState] = {}
        self.balancer: Balancer[TargetState] = Balancer(())
        self.sticky_header: bytes | None = None
        self.sticky_cookie: bytes | None = None
        self.switches = 0
        self.retries = 0
        self.unrouted = 0  # requests answered 503 because no target was available
        self.started = time.monotonic()
        self._lock = asyncio.Lock()

    def restore(self, table: RouteTable) -> None:
        """Install a table read from the state file at startup (no new revision)."""
        self._apply(table)

    async def switch(self, table: RouteTable) -> RouteTable:
        """Validate, persist, then install `table` atomically; returns it with its revision."""
        async with self._lock:
            expected = table.expect_revision
            if expected is not None and expected != self.table.revision:
                raise RouterRejected(
                    f"route table is at revision {self.table.revision}, not {expected}; "
                    "read it again and retry",
                    status=409,
                )
            new = table.with_revision(self.table.revision + 1)
            if self.persist is not None:
                # fsync takes milliseconds; keep the data path running meanwhile.
                await asyncio.to_thread(self.persist, new)
            self._apply(new)
            self.switches += 1
            return new

    def _apply(self, table: RouteTable) -> None:
        keep = {(t.name, t.url, t.version): t for t in table.targets}
        for key, state in self.states.items():
            if key not in keep and state.in_table:
                state.in_table = False
                state.weight = 0
                state.pool.close()
        weighted: list[tuple[TargetState, int]] = []
        for key, target in keep.items():
            found = self.states.get(key)
            if found is None:
                state = TargetState(target, self._new_pool(target.host, target.port))
                self.states[key] = state
            else:
                state = found
            state.pool.closed = False  # a flip back to a retired (still warm) target reuses it
            state.in_table = True
            state.weight = target.weight
            if target.weight > 0:
                # Giving a target weight is the clearest way to say "send it traffic".
                state.draining = False
            weighted.append((state, target.weight))
        self.sticky_header = table.sticky_header.lower().encode() if table.sticky_header else None
        self.sticky_cookie = table.sticky_cookie.encode() if table.sticky_cookie else None
        self.balancer = Balancer(weighted)  # the switch: one assignment
        self.table = table
        self._prune()

    def _new_pool(self, host: str, port: int) -> UpstreamPool:
        return UpstreamPool(host, port, self.registry, connect_timeout=self.connect_timeout)

    def _prune(self) -> None:
        retired = [k for k, s in self.states.items() if not s.in_table and not s.in_flight]
        for key in retired[: max(0, len(retired) - _MAX_RETIRED)]:
            del self.states[key]

    def matching(self, key: str) -> list[TargetState]:
        """States named `key` (slot name or url) that are in the table or still busy.

        A target already switched out and idle matches only when nothing else does, so that
        draining it reports "drained" at once instead of an error.
        """
        named = [s for s in self.states.values() if key in (s.slot, s.url)]
        found = [s for s in named if s.in_table or s.in_flight] or named
        if not found:
            known = sorted({s.slot for s in self.states.values() if s.in_table})
            raise RouterRejected(
                f"no target {key!r} in the route table (known: {', '.join(known) or 'none'})",
                status=404,
            )
        return found

    async def drain(self, key: str, timeout_s: float) -> DrainResult:
        """Stop new requests to `key`, then wait until its in-flight count is 0 or timeout."""
        states = self.matching(key)
        for state in states:
            state.draining = True
        started = time.monotonic()
        await asyncio.gather(*(s.wait_idle(timeout_s) for s in states))
        in_flight = sum(s.in_flight for s in states)
        if not in_flight:
            for state in states:
                # Idle pooled sockets would keep the drained process's connections open.
                state.pool.close_idle()
        return DrainResult(
            drained=in_flight == 0,
            in_flight=in_flight,
            waited_s=time.monotonic() - started,
            targets=tuple(s.url for s in states),
        )

    def undrain(self, key: str) -> list[str]:
        """Let `key` receive new requests again; returns the urls affected."""
        states = self.matching(key)
        for state in states:
            state.draining = False
        return [s.url for s in states]

    @property
    def in_flight(self) -> int:
        """Requests in flight across all targets."""
        return sum(s.in_flight for s in self.states.values())

    def snapshot(self) -> RouterStats:
        """Counters for `GET /stats`."""
        return RouterStats(
            revision=self.table.revision,
            switches=self.switches,
            retries=self.retries,
            unrouted=self.unrouted,
            uptime_s=round(time.monotonic() - self.started, 3),
            targets=tuple(s.snapshot() for s in self.states.values()),
        )
