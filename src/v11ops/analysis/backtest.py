"""Backtesting: judge the prometheus checks of a template at every step of a recorded window,
with the same rules as a live analysis, to see what each verdict would have been.

Each check is evaluated with one range query (and one for `samples_query`) at `start + k *
step`, by default its own interval. Every point is judged; the outcome is where the live tally
would first have decided (`count` is ignored: the whole window counts). Router, scrape and
Mann-Whitney checks read live state that Prometheus does not keep, so they are reported as not
backtestable.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from v11ops.analysis.judge import Observation, ProviderError, judge
from v11ops.analysis.measurement import Measurement, json_safe
from v11ops.analysis.outcome import Tally
from v11ops.analysis.providers.prometheus import MissingPlaceholder, PrometheusApi, render
from v11ops.config import AnalysisTemplate, PrometheusCheck

MAX_POINTS = 11_000  # Prometheus refuses range queries with more points per series
_LIVE_ONLY = {
    "router": "it reads the router's live counters, which Prometheus does not keep per check",
    "scrape": "it scrapes the slot's metrics page live",
    "mann_whitney": "it probes both slots live",
}


class BacktestError(Exception):
    """The backtest cannot run as asked (a usage problem: say what to give)."""


@dataclass
class CheckBacktest:
    """The verdicts of one check over the window. `phase` is the outcome, `error` when the
    query could not be evaluated, `not backtestable` for live-only checks."""

    template: str
    check: str
    kind: str
    query: str
    phase: str
    reason: str
    points: list[Measurement] = field(default_factory=list)
    decided_at: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "template": self.template,
            "check": self.check,
            "kind": self.kind,
            "query": self.query,
            "phase": self.phase,
            "reason": self.reason,
            "decided_at": self.decided_at.isoformat() if self.decided_at else None,
            "points": [
                {
                    "at": p.at.isoformat(),
                    "value": json_safe(p.value),
                    "samples": p.samples,
                    "verdict": p.verdict,
                    "reason": p.reason,
                }
                for p in self.points
            ],
        }


@dataclass(frozen=True)
class Window:
    """The recorded window: [start, end] in epoch seconds, and the step (None: per check)."""

    start: float
    end: float
    step_s: float | None = None

    def times(self, interval_s: float) -> list[float]:
        """Evaluation times in whole milliseconds, as Prometheus computes them."""
        step_ms = round((self.step_s or interval_s) * 1000)
        start_ms, end_ms = round(self.start * 1000), round(self.end * 1000)
        count = (end_ms - start_ms) // step_ms + 1
        if count > MAX_POINTS:
            raise BacktestError(
                f"{count} evaluation points (more than {MAX_POINTS}); use a larger --step or a "
                "shorter window"
            )
        return [(start_ms + k * step_ms) / 1000 for k in range(max(count, 0))]


async def backtest(
    name: str,
    template: AnalysisTemplate,
    window: Window,
    values: dict[str, str | None],
    prometheus_url: str,
) -> list[CheckBacktest]:
    """One result per check of `template`. BacktestError for a placeholder without a value."""
    results = []
    for check in template.checks:
        if not isinstance(check, PrometheusCheck):
            why = _LIVE_ONLY[check.kind]
            results.append(CheckBacktest(name, check.name, check.kind, "", "not backtestable", why))
            continue
        results.append(await _backtest_check(name, check, window, values, prometheus_url))
    return results


async def _backtest_check(
    template: str,
    check: PrometheusCheck,
    window: Window,
    values: dict[str, str | None],
    prometheus_url: str,
) -> CheckBacktest:
    try:
        query = render(check.query, values)
        samples_query = render(check.samples_query, values) if check.samples_query else None
    except MissingPlaceholder as exc:
        option = "--" + exc.name.replace(".", "-")
        raise BacktestError(
            f"check {check.name} of template {template} uses {{{{{exc.name}}}}}: give {option}"
        ) from None
    times = window.times(check.interval_s)
    result = CheckBacktest(template, check.name, check.kind, query, "error", "")
    api = PrometheusApi(check.address or prometheus_url, check.timeout_s)
    try:
        series = await _range(api, query, times)
        counts = await _range(api, samples_query, times) if samples_query else {}
    except ProviderError as exc:
        result.reason = str(exc)
        return result
    finally:
        await api.aclose()
    result.points = [
        _point(
            check,
            query,
            k + 1,
            t,
            series.get(round(t, 3)),
            _samples(counts, t, bool(samples_query)),
        )
        for k, t in enumerate(times)
    ]
    _decide(result, check)
    return result


def _point(
    check: PrometheusCheck,
    query: str,
    index: int,
    at: float,
    value: float | None,
    samples: int | None,
) -> Measurement:
    verdict, reason = judge(check, Observation(value, samples))
    return Measurement(
        check=check.name, provider=check.kind, query=query, at=datetime.fromtimestamp(at, UTC),
        index=index, value=value, samples=samples, condition=check.conditions_text(),
        thresholds={}, verdict=verdict, reason=reason,
    )  # fmt: skip


def _samples(counts: dict[float, float], at: float, wanted: bool) -> int | None:
    """Requests at `at` by samples_query; a missing or NaN count is zero requests."""
    if not wanted:
        return None
    counted = counts.get(round(at, 3))
    return 0 if counted is None or math.isnan(counted) else round(counted)


async def _range(api: PrometheusApi, query: str, times: list[float]) -> dict[float, float]:
    if not times:
        return {}
    step = times[1] - times[0] if len(times) > 1 else 1.0
    return await api.range(query, times[0], times[-1], step)


def _decide(result: CheckBacktest, check: PrometheusCheck) -> None:
    tally = Tally(check, count=len(result.points))
    for point in result.points:
        tally.add(point)
    if tally.phase is None:
        result.phase, result.reason = "inconclusive", "no evaluation points in the window"
        return
    result.phase, result.reason = tally.phase, tally.reason
    result.decided_at = tally.decided_by.at if tally.decided_by else result.points[-1].at
