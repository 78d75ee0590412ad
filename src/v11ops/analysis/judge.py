"""The verdict of one metric measurement: the sample gate, the empty and NaN policies, then the
success and failure conditions (Argo Rollouts' semantics)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from v11ops.analysis.measurement import Verdict, show
from v11ops.config import MetricCheck


class ProviderError(Exception):
    """A measurement could not be taken (unreachable, bad query, odd answer); the message says
    what happened and is recorded as the measurement's reason."""


@dataclass(frozen=True)
class Observation:
    """What a provider saw for one measurement."""

    value: float | None  # None: the result was empty
    samples: int | None  # requests behind the value; None when unknown
    details: Mapping[str, Any] = field(default_factory=dict)


def judge(
    check: MetricCheck, obs: Observation, topped_up: int | None = None
) -> tuple[Verdict, str]:
    """(verdict, reason). The reason names the value, the threshold and the rule applied."""
    if check.min_samples and obs.samples is not None and obs.samples < check.min_samples:
        top_up = "" if topped_up is None else f" after a top-up of {topped_up} synthetic requests"
        return "inconclusive", (
            f"only {obs.samples} requests{top_up}, fewer than min_samples {check.min_samples}: "
            "too few to judge"
        )
    if obs.value is None:
        return check.on_empty, f"the result is empty (no series); on_empty: {check.on_empty}"
    if math.isnan(obs.value):
        return check.on_nan, f"the result is NaN (e.g. 0/0, no requests); on_nan: {check.on_nan}"
    return _conditions(check, obs.value)


def _conditions(check: MetricCheck, value: float) -> tuple[Verdict, str]:
    result = f"result {show(value)}"
    success, failure = check.success(), check.failure()
    if failure is not None and failure.holds(value):
        return "failed", f"{result} meets the failure condition '{failure.text}'"
    if success is None:
        return (
            "successful",
            f"{result} does not meet the failure condition '{check.failure_condition}'",
        )
    if success.holds(value):
        return "successful", f"{result} meets '{success.text}'"
    if failure is None:
        return "failed", f"{result} breaks the success condition '{success.text}'"
    return "inconclusive", f"{result} meets neither '{success.text}' nor '{failure.text}'"


def http_problem(exc: Exception) -> str:
    """A transport error as a short phrase (some httpx errors have an empty message)."""
    return str(exc) or type(exc).__name__
