"""Where a metric check's number comes from: the router's counters, a scrape of the slot's
metrics page, or a PromQL query. Each provider keeps the previous snapshot, so a measurement
covers the interval since the one before it."""

from __future__ import annotations

from typing import Protocol

from v11ops.analysis.context import AnalysisContext
from v11ops.analysis.judge import Observation
from v11ops.analysis.providers.prometheus import PrometheusProvider
from v11ops.analysis.providers.router import RouterProvider
from v11ops.analysis.providers.scrape import ScrapeProvider
from v11ops.config import MetricCheck, PrometheusCheck, RouterCheck


class Provider(Protocol):
    query: str  # what is measured, as recorded with each measurement

    async def begin(self) -> None:
        """Take the starting snapshot (a failure shows up at the first measurement)."""

    async def observe(self) -> Observation:
        """The value since the starting snapshot; ProviderError when it cannot be read."""

    def advance(self) -> None:
        """The next measurement starts where the last observation ended."""

    async def aclose(self) -> None:
        """Release connections."""


def make_provider(check: MetricCheck, ctx: AnalysisContext) -> Provider:
    """The provider that measures `check`."""
    if isinstance(check, RouterCheck):
        return RouterProvider(check, ctx)
    if isinstance(check, PrometheusCheck):
        return PrometheusProvider(check, ctx)
    return ScrapeProvider(check, ctx)


__all__ = ["Provider", "make_provider"]
