"""What a gate returns: a verdict with the evidence behind it (shown by `history --explain`)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Evidence:
    """One thing that was checked: what, the value observed, and what was expected.

    `observed` and `expected` are JSON values (numbers, strings, lists, mappings, null), so the
    controller can store them in its journal and print them later as they were.
    """

    check: str
    observed: Any
    expected: Any
    passed: bool
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        out = {
            "check": self.check,
            "observed": self.observed,
            "expected": self.expected,
            "passed": self.passed,
        }
        if self.note:
            out["note"] = self.note
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Evidence:
        return cls(
            check=str(data["check"]),
            observed=data.get("observed"),
            expected=data.get("expected"),
            passed=bool(data["passed"]),
            note=str(data.get("note", "")),
        )

    def explain(self) -> str:
        """`FAIL GET http://.../ready: observed 503, expected 200 (note)` on one line."""
        verdict = "pass" if self.passed else "FAIL"
        note = f" ({self.note})" if self.note else ""
        return (
            f"{verdict} {self.check}: observed {_show(self.observed)}, "
            f"expected {_show(self.expected)}{note}"
        )


@dataclass(frozen=True, slots=True)
class GateResult:
    """The verdict of one gate (readiness, smoke, a hook) and its evidence."""

    name: str
    passed: bool
    evidence: list[Evidence] = field(default_factory=list)
    duration_s: float = 0.0

    @property
    def failures(self) -> list[Evidence]:
        return [e for e in self.evidence if not e.passed]

    def summary(self) -> str:
        """One line: `smoke passed (4 checks, 0.12 s)` or `readiness failed: <first failure>`."""
        if self.passed:
            return f"{self.name} passed ({len(self.evidence)} checks, {self.duration_s:.2f} s)"
        first = self.failures[0].explain() if self.failures else "no evidence"
        return f"{self.name} failed: {first}"

    def explain(self) -> list[str]:
        """The summary, then one line per piece of evidence."""
        return [self.summary(), *(f"  {e.explain()}" for e in self.evidence)]

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "passed": self.passed,
            "duration_s": round(self.duration_s, 4),
            "evidence": [e.to_dict() for e in self.evidence],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GateResult:
        return cls(
            name=str(data["name"]),
            passed=bool(data["passed"]),
            evidence=[Evidence.from_dict(e) for e in data.get("evidence", [])],
            duration_s=float(data.get("duration_s", 0.0)),
        )


def _show(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= 120 else text[:117] + "..."
