"""What one preflight check concludes: pass, fail or skip, with a reason a person can act on."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Status(StrEnum):
    """The outcome of one check. A skip never fails the preflight; it says why it was skipped."""

    PASS = "pass"  # noqa: S105 - a status, not a password
    FAIL = "fail"
    SKIP = "skip"


@dataclass(frozen=True)
class Verdict:
    """A check's outcome, its one-line reason and the evidence behind it (JSON-ready values)."""

    status: Status
    reason: str
    details: Mapping[str, Any] = field(default_factory=dict)


def passing(reason: str, **details: Any) -> Verdict:
    """A passed check."""
    return Verdict(Status.PASS, reason, details)


def failing(reason: str, **details: Any) -> Verdict:
    """A failed check: the reason names what is wrong and what to do."""
    return Verdict(Status.FAIL, reason, details)


def skipped(reason: str, **details: Any) -> Verdict:
    """A check that does not apply here (nothing configured to check)."""
    return Verdict(Status.SKIP, reason, details)


def hours(seconds: float) -> str:
    """`3.5 h` for a duration in seconds, as reasons print ages."""
    return f"{seconds / 3600:.1f} h"
