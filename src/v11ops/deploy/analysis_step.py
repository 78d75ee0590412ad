"""A canary's `analysis` step: run the named templates against the canary and the stable slot,
store every measurement as a verdict (shown by `v11ops history --explain`), combine the outcomes."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING

from v11ops.analysis import AnalysisContext, AnalysisOutcome, Measurement, SlotRef, run_analysis
from v11ops.config import Config

if TYPE_CHECKING:
    from v11ops.deploy.canary import CanaryRun

# The worst phase wins: one failed template fails the step.
_RANK = {"successful": 0, "inconclusive": 1, "aborted": 2, "failed": 3}


async def analyse(run: CanaryRun, templates: list[str]) -> tuple[str, str]:
    """Run `templates` concurrently; the combined phase and the reasons that decided it."""
    ctl, stable = run.ctl, run.stable
    old = ctl.instance(stable.name) if stable is not None else None
    ctx = AnalysisContext(
        candidate=SlotRef(run.slot, run.release.version, run.release.base_url),
        stable=(
            SlotRef(stable.name, stable.version or "", old.base_url)
            if stable is not None and old is not None
            else None
        ),
        router_stats=ctl.traffic.snapshot,
        router_url=ctl.config.router.url,
        prometheus_url=prometheus_url(ctl.config),
        top_up=run.top_up,
        abort_requested=ctl._abort.is_set,
    )

    def recorder(template: str) -> Callable[[Measurement], None]:
        def record(m: Measurement) -> None:
            ev = m.to_evidence()
            ctl.state.verdict(run.j.deployment_id, f"analysis:{template}", ev.passed, 0.0,
                              [ev.to_dict()])  # fmt: skip

        return record

    outcomes: list[AnalysisOutcome] = await asyncio.gather(
        *(run_analysis(ctl.config.analysis[name], ctx, recorder(name)) for name in templates)
    )
    worst = max(_RANK[o.phase] for o in outcomes)
    phase = next(p for p, r in _RANK.items() if r == worst)
    reasons = [f"{name}: {o.reason}" for name, o in zip(templates, outcomes, strict=True)
               if _RANK[o.phase] == worst]  # fmt: skip
    return phase, "; ".join(reasons)


def prometheus_url(config: Config) -> str:
    """Where the prometheus provider queries by default: the stack of `v11ops monitor up`
    (a check may name its own `address`)."""
    return f"http://{config.monitoring.prometheus.listen}"
