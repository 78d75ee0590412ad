"""Small builders shared by the analysis tests."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from v11ops.analysis import (
    AnalysisContext,
    AnalysisOutcome,
    Measurement,
    SlotRef,
    no_router_stats,
    run_analysis,
)
from v11ops.config import AnalysisTemplate


def template(*checks: dict[str, Any]) -> AnalysisTemplate:
    """A template of `checks`, measured fast: every 0.3 s, twice, unless a check says otherwise."""
    return AnalysisTemplate.model_validate(
        {"checks": [{"interval_s": 0.3, "count": 2, **check} for check in checks]}
    )


def context(candidate: SlotRef, stable: SlotRef | None = None, **kwargs: Any) -> AnalysisContext:
    settings: dict[str, Any] = {
        "router_stats": no_router_stats, "router_url": None, "prometheus_url": None, **kwargs,
    }  # fmt: skip
    return AnalysisContext(candidate=candidate, stable=stable, **settings)


def analyse(
    t: AnalysisTemplate,
    ctx: AnalysisContext,
    during: Callable[[], Awaitable[object]] | None = None,
) -> tuple[AnalysisOutcome, list[Measurement]]:
    """Run the analysis (and `during` alongside it); return the outcome and what `record`
    received, in order."""
    recorded: list[Measurement] = []

    async def run() -> AnalysisOutcome:
        side = asyncio.create_task(during()) if during else None
        try:
            return await asyncio.wait_for(run_analysis(t, ctx, recorded.append), 60)
        finally:
            if side is not None:
                await side

    return asyncio.run(run()), recorded
