"""How one measurement is taken: a metric check observes its provider (topping up traffic
when there is too little) and judges the number; a Mann-Whitney check probes both slots."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Any, Protocol

from v11ops.analysis.context import AnalysisContext
from v11ops.analysis.judge import Observation, ProviderError, judge
from v11ops.analysis.mann_whitney import compare, probe
from v11ops.analysis.measurement import Measurement, Verdict
from v11ops.analysis.providers import Provider, make_provider
from v11ops.config import AnalysisCheck, MannWhitneyCheck, MetricCheck

_TOP_UP_POLL_S = 0.25


class Measurer(Protocol):
    async def begin(self) -> None:
        """Take the starting snapshot."""

    async def measure(self, index: int) -> Measurement:
        """Measure the interval since the last measurement; never raises for provider errors."""

    async def aclose(self) -> None:
        """Release connections."""


def make_measurer(check: AnalysisCheck, ctx: AnalysisContext) -> Measurer:
    """The measurer of `check`."""
    if isinstance(check, MannWhitneyCheck):
        return MannWhitneyMeasurer(check, ctx)
    return MetricMeasurer(check, ctx)


def _limits(check: AnalysisCheck) -> dict[str, Any]:
    return {
        "failure_limit": check.failure_limit,
        "inconclusive_limit": check.inconclusive_limit,
        "error_limit": check.error_limit,
        "on_error": check.on_error,
    }


class MetricMeasurer:
    """A router, scrape or prometheus check: observe, top up when short, judge."""

    def __init__(self, check: MetricCheck, ctx: AnalysisContext) -> None:
        self.check, self.ctx = check, ctx
        self.provider: Provider = make_provider(check, ctx)
        self.thresholds = {
            "min_samples": check.min_samples,
            "on_empty": check.on_empty,
            "on_nan": check.on_nan,
            **_limits(check),
        }

    async def begin(self) -> None:
        await self.provider.begin()

    async def aclose(self) -> None:
        await self.provider.aclose()

    async def measure(self, index: int) -> Measurement:
        at = datetime.now(UTC)
        details: dict[str, Any] = {}
        value: float | None = None
        samples: int | None = None
        verdict: Verdict
        try:
            obs = await self.provider.observe()
            topped = None
            if self._short(obs):
                topped = await self._top_up(obs, details)
                if topped:
                    obs = await self._observe_until_enough()
            verdict, reason = judge(self.check, obs, topped)
            value, samples, details = obs.value, obs.samples, {**obs.details, **details}
        except ProviderError as exc:
            verdict, reason = "error", str(exc)
        self.provider.advance()
        return Measurement(
            check=self.check.name, provider=self.check.kind, query=self.provider.query, at=at,
            index=index, value=value, samples=samples, condition=self.check.conditions_text(),
            thresholds=self.thresholds, verdict=verdict, reason=reason, details=details,
        )  # fmt: skip

    def _short(self, obs: Observation) -> bool:
        """Too few requests, and synthetic traffic could reach the slot being judged."""
        check = self.check
        return (
            self.ctx.top_up is not None
            and check.top_up
            and getattr(check, "slot", "candidate") == "candidate"
            and obs.samples is not None
            and obs.samples < check.min_samples
        )

    async def _top_up(self, obs: Observation, details: dict[str, Any]) -> int:
        assert self.ctx.top_up is not None and obs.samples is not None
        wanted = self.check.min_samples - obs.samples
        details["top_up_wanted"] = wanted
        try:
            sent = await self.ctx.top_up(wanted)
        except Exception as exc:  # the load generator's failure must not end the analysis
            details["top_up_error"] = str(exc) or type(exc).__name__
            return 0
        details["top_up_sent"] = sent
        return sent

    async def _observe_until_enough(self) -> Observation:
        # The router counts at once; Prometheus needs a scrape or two to see the new requests.
        deadline = time.monotonic() + self.check.top_up_wait_s
        while True:
            obs = await self.provider.observe()
            enough = obs.samples is None or obs.samples >= self.check.min_samples
            if enough or time.monotonic() >= deadline:
                return obs
            await asyncio.sleep(_TOP_UP_POLL_S)


class MannWhitneyMeasurer:
    """Probe both slots in pairs and compare the latencies."""

    def __init__(self, check: MannWhitneyCheck, ctx: AnalysisContext) -> None:
        self.check, self.ctx = check, ctx
        stable = ctx.stable.name if ctx.stable else "(no stable slot)"
        self.query = (
            f"GET {check.path}: {check.samples} paired probes of slot {ctx.candidate.name} "
            f"and slot {stable}, one-sided Mann-Whitney U"
        )
        self.condition = (
            f"failed when p < {check.max_p_value} and effect size >= {check.min_effect_size} "
            f"and slowdown >= {check.min_slowdown}"
        )
        self.thresholds = {
            "max_p_value": check.max_p_value,
            "min_effect_size": check.min_effect_size,
            "min_slowdown": check.min_slowdown,
            "min_samples": check.min_samples,
            **_limits(check),
        }

    async def begin(self) -> None:
        return None

    async def aclose(self) -> None:
        return None

    async def measure(self, index: int) -> Measurement:
        at = datetime.now(UTC)
        value: dict[str, Any] = {}
        details: dict[str, Any] = {}
        samples = None
        verdict: Verdict
        if self.ctx.stable is None:
            verdict, reason = "inconclusive", "no stable slot to compare the candidate with"
        else:
            try:
                cand, stab = await probe(self.check, self.ctx.candidate, self.ctx.stable)
                verdict, reason, value = compare(self.check, cand, stab)
                samples = min(len(cand.latencies), len(stab.latencies))
                details = {"candidate": cand.counts(), "stable": stab.counts()}
            except ProviderError as exc:
                verdict, reason = "error", str(exc)
        return Measurement(
            check=self.check.name, provider=self.check.kind, query=self.query, at=at,
            index=index, value=value, samples=samples, condition=self.condition,
            thresholds=self.thresholds, verdict=verdict, reason=reason, details=details,
        )  # fmt: skip
