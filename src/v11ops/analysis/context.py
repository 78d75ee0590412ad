"""What an analysis is run against: the candidate and stable slots and where to read traffic."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from v11ops.router.stats import RouterStats


@dataclass(frozen=True)
class SlotRef:
    """One slot of the deployment under analysis."""

    name: str  # slot name, e.g. "green"
    version: str  # release version running in it
    base_url: str  # http://127.0.0.1:PORT of the slot's instance (its metrics page is scrapeable)


def _never() -> bool:
    return False


@dataclass
class AnalysisContext:
    """Everything the providers need, supplied by the deploy controller.

    `top_up(n)` asks for synthetic requests through the router so that the candidate receives
    about `n` more; it returns how many requests were sent. `abort_requested()` is polled while
    the analysis waits; when it returns True the analysis stops with phase `aborted`.
    """

    candidate: SlotRef
    stable: SlotRef | None
    router_stats: Callable[[], Awaitable[RouterStats | None]]  # None: the router cannot count
    router_url: str | None  # where client traffic enters
    prometheus_url: str | None
    metrics_path: str = "/q/metrics"
    top_up: Callable[[int], Awaitable[int]] | None = None
    abort_requested: Callable[[], bool] = _never

    def slot(self, which: str) -> SlotRef | None:
        """`candidate` or `stable`."""
        return self.candidate if which == "candidate" else self.stable


async def no_router_stats() -> RouterStats | None:
    """`router_stats` for a router that does not count requests per slot (nginx)."""
    return None
