"""How measurements become a check's phase and checks an analysis outcome (Argo Rollouts' rules).

Per check: more failed measurements than `failure_limit` → failed; more provider errors than
`error_limit` → the check's `on_error` phase; more inconclusive than `inconclusive_limit` →
inconclusive; `count` judged measurements (errors do not count) → successful. For the analysis:
any failed check → failed, else any aborted → aborted, else any inconclusive → inconclusive.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from v11ops.analysis.measurement import Measurement
from v11ops.gates import Evidence, GateResult

Phase = Literal["successful", "failed", "inconclusive", "aborted"]
_WORST_FIRST: tuple[Phase, ...] = ("failed", "aborted", "inconclusive", "successful")


class Limits(Protocol):
    """The part of a check's config that the tally reads."""

    @property
    def name(self) -> str: ...
    @property
    def count(self) -> int: ...
    @property
    def failure_limit(self) -> int: ...
    @property
    def inconclusive_limit(self) -> int: ...
    @property
    def error_limit(self) -> int: ...
    @property
    def on_error(self) -> Literal["inconclusive", "failed"]: ...


@dataclass
class Tally:
    """The running count of one check's verdicts; `phase` is set once the check is decided."""

    limits: Limits
    count: int
    counts: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys(("successful", "failed", "inconclusive", "error"), 0)
    )
    phase: Phase | None = None
    reason: str = ""
    decided_by: Measurement | None = None

    @property
    def judged(self) -> int:
        """Measurements with a verdict on the release (errors excluded)."""
        return self.counts["successful"] + self.counts["failed"] + self.counts["inconclusive"]

    def add(self, m: Measurement) -> Phase | None:
        """Count `m`; return the check's phase once decided (later measurements are ignored)."""
        if self.phase is not None:
            return self.phase
        self.counts[m.verdict] += 1
        lim, n = self.limits, self.counts
        if m.verdict == "failed" and n["failed"] > lim.failure_limit:
            self._decide("failed", m, f"{n['failed']} failed > failure_limit {lim.failure_limit}")
        elif m.verdict == "error" and n["error"] > lim.error_limit:
            self._decide(
                lim.on_error, m, f"{n['error']} provider errors > error_limit {lim.error_limit}"
            )
        elif m.verdict == "inconclusive" and n["inconclusive"] > lim.inconclusive_limit:
            self._decide(
                "inconclusive",
                m,
                f"{n['inconclusive']} inconclusive > inconclusive_limit {lim.inconclusive_limit}",
            )
        elif self.judged >= self.count:
            self.phase = "successful"
            self.reason = self.summary()
        return self.phase

    def abort(self) -> None:
        """Stop undecided: the analysis was aborted."""
        if self.phase is None:
            self.phase = "aborted"
            self.reason = f"aborted on request ({self.summary()})"

    def summary(self) -> str:
        """`5 of 6 measurements successful, 1 failed (failure_limit 1)`."""
        n = self.counts
        text = f"{n['successful']} of {self.judged} measurements successful"
        extra = [
            f"{n[k]} {k}" + (f" ({label} {limit})" if limit is not None else "")
            for k, label, limit in (
                ("failed", "failure_limit", self.limits.failure_limit),
                ("inconclusive", "inconclusive_limit", self.limits.inconclusive_limit),
                ("error", "error_limit", self.limits.error_limit),
            )
            if n[k]
        ]
        return ", ".join([text, *extra])

    def _decide(self, phase: Phase, m: Measurement, why: str) -> None:
        self.phase, self.decided_by = phase, m
        self.reason = f"{m.reason} [measurement {m.index}: {why}]"


@dataclass(frozen=True)
class AnalysisOutcome:
    """The result of `run_analysis`: the phase, one line saying why, every measurement, and
    the phase of each check that decided (a check stopped because another failed has none)."""

    phase: Phase
    reason: str
    measurements: tuple[Measurement, ...] = ()
    checks: Mapping[str, Phase] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "phase": self.phase,
            "reason": self.reason,
            "checks": dict(self.checks),
            "measurements": [m.to_dict() for m in self.measurements],
        }

    def to_gate_result(self, name: str = "analysis", duration_s: float = 0.0) -> GateResult:
        """A gate verdict: the outcome first, then one piece of evidence per measurement."""
        verdict = Evidence(
            check="outcome",
            observed=self.phase,
            expected="successful",
            passed=self.phase == "successful",
            note=self.reason,
        )
        evidence = [verdict, *(m.to_evidence() for m in self.measurements)]
        return GateResult(name, self.phase == "successful", evidence, duration_s)


def combine(tallies: Iterable[Tally], measurements: Iterable[Measurement]) -> AnalysisOutcome:
    """The outcome of a set of decided (or aborted) checks: the worst phase wins."""
    decided = list(tallies)
    # A check still running when another failed is left out: it has no phase of its own.
    phases = {t.limits.name: t.phase for t in decided if t.phase is not None}
    worst = next(p for p in _WORST_FIRST if p in phases.values() or p == "successful")
    if worst == "successful":
        parts = [f"{t.limits.name}: {t.reason}" for t in decided]
        reason = f"all {len(decided)} checks successful (" + "; ".join(parts) + ")"
    else:
        reason = "; ".join(
            f"{t.limits.name} {worst}: {t.reason}" for t in decided if t.phase == worst
        )
    return AnalysisOutcome(worst, reason, tuple(measurements), phases)
