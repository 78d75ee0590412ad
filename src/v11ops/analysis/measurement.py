"""One measurement of a check: what was asked, what came back, the verdict and why."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from v11ops.gates import Evidence

Verdict = Literal["successful", "failed", "inconclusive", "error"]


@dataclass(frozen=True)
class Measurement:
    """A verdict with its evidence. `value` is the observed number (None: empty result; NaN
    possible) or, for a Mann-Whitney check, a mapping of its statistics."""

    check: str
    provider: str  # router | scrape | prometheus | mann_whitney
    query: str  # the PromQL, or the router / scrape expression
    at: datetime
    index: int  # 1-based number of the measurement within its check
    value: Any
    samples: int | None  # requests behind the value; None when the provider cannot tell
    condition: str  # e.g. "success: result <= 0.02"
    thresholds: Mapping[str, Any]
    verdict: Verdict
    reason: str  # why the verdict, with the value and the threshold
    details: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe (NaN and infinities as strings)."""
        return {
            "check": self.check,
            "provider": self.provider,
            "query": self.query,
            "at": self.at.isoformat(),
            "index": self.index,
            "value": json_safe(self.value),
            "samples": self.samples,
            "condition": self.condition,
            "thresholds": json_safe(dict(self.thresholds)),
            "verdict": self.verdict,
            "reason": self.reason,
            "details": json_safe(dict(self.details)),
        }

    def to_evidence(self) -> Evidence:
        """The form the controller stores in its verdicts table (`history --explain`)."""
        observed: dict[str, Any] = {"value": json_safe(self.value), "samples": self.samples}
        observed |= json_safe(dict(self.details))
        expected: dict[str, Any] = {"condition": self.condition}
        if self.thresholds.get("min_samples"):
            expected["min_samples"] = self.thresholds["min_samples"]
        return Evidence(
            check=f"{self.check} #{self.index} [{self.provider}] {self.query}",
            observed=observed,
            expected=expected,
            passed=self.verdict == "successful",
            note=f"{self.verdict}: {self.reason}",
        )


def json_safe(value: Any) -> Any:
    """Replace NaN and infinities (not valid JSON) with the strings Prometheus uses."""
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("+Inf" if value > 0 else "-Inf")
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value


def show(value: float) -> str:
    """A number as a person reads it: 4 significant digits."""
    return f"{value:.4g}"
