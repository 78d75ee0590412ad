"""The gate report: the file that says a release's tests and quality gate passed.

`nox -s gate` writes it after the tests, the coverage gate (lines, branches), ruff and mypy;
`v11ops preflight` reads it. This module is the one definition of its path and shape.

Path: `reports/gate.json`, relative to the working directory (the repository root in CI; the
pipeline ships it next to the release it judged). `--gate-report` or V11OPS_GATE_REPORT
point elsewhere.

Shape (schema `v11ops.gate/1`; unknown keys are ignored, so later writers may add fields):

    {
      "schema": "v11ops.gate/1",
      "version": "1.1.0",                  # the release (package version) the gate ran on
      "commit": "3f2a...",                 # git commit of that release
      "passed": true,                      # every check passed
      "finished_at": "2025-01-01T12:00:00Z",
      "checks": [
        {"name": "tests", "passed": true, "observed": "812 passed"},
        {"name": "coverage_lines", "passed": true, "observed": 96.2, "threshold": 95.0},
        {"name": "coverage_branches", "passed": true, "observed": 91.4, "threshold": 90.0},
        {"name": "ruff", "passed": true},
        {"name": "mypy", "passed": true}
      ]
    }
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from v11ops.config import write_text_atomically
from v11ops.preflight._verdict import Verdict, failing, hours, passing

GATE_REPORT_PATH = Path("reports/gate.json")
GATE_REPORT_ENV = "V11OPS_GATE_REPORT"
GATE_REPORT_SCHEMA: Literal["v11ops.gate/1"] = "v11ops.gate/1"


class GateReportError(Exception):
    """The gate report is missing or not a valid `v11ops.gate/1` document."""


class GateCheck(BaseModel):
    """One check of the gate: tests, coverage_lines, coverage_branches, ruff, mypy, ..."""

    model_config = ConfigDict(frozen=True)

    name: str = Field(min_length=1)
    passed: bool
    observed: float | str | None = None
    threshold: float | str | None = None


class GateReport(BaseModel):
    """The outcome of `nox -s gate` for one release."""

    model_config = ConfigDict(frozen=True, populate_by_name=True)

    schema_id: Literal["v11ops.gate/1"] = Field(default=GATE_REPORT_SCHEMA, alias="schema")
    version: str = Field(min_length=1)
    commit: str = ""
    passed: bool
    finished_at: AwareDatetime
    checks: tuple[GateCheck, ...] = Field(min_length=1)

    @property
    def failed_checks(self) -> list[str]:
        """Names of the checks that did not pass."""
        return [check.name for check in self.checks if not check.passed]


def write_gate_report(path: Path, report: GateReport) -> None:
    """Write the report atomically (a reader never sees half a file)."""
    text = json.dumps(report.model_dump(mode="json", by_alias=True), indent=2) + "\n"
    write_text_atomically(path, text)


def read_gate_report(path: Path) -> GateReport:
    """Read and validate a gate report; GateReportError says what is wrong with the file."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise GateReportError(f"no gate report at {path}; run `nox -s gate`") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise GateReportError(f"cannot read the gate report {path}: {exc}") from None
    try:
        return GateReport.model_validate_json(text)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(part) for part in first["loc"]) or "document"
        raise GateReportError(
            f"{path} is not a {GATE_REPORT_SCHEMA} gate report ({where}: {first['msg']})"
        ) from None


def judge_gate(path: Path, version: str | None, now: datetime) -> Verdict:
    """PASS when the report exists, every check passed, and it is for `version` (when given)."""
    try:
        report = read_gate_report(path)
    except GateReportError as exc:
        return failing(f"{exc} (or pass --skip-gate)", path=str(path))
    details = {
        "path": str(path),
        "version": report.version,
        "commit": report.commit,
        "finished_at": report.finished_at.isoformat(),
        "age_s": round((now - report.finished_at).total_seconds()),
    }
    if version is not None and report.version != version:
        return failing(
            f"the gate report is for {report.version}, not release {version}; "
            "run the gate on the release's commit",
            **details,
        )
    if not report.passed or report.failed_checks:
        failed = ", ".join(report.failed_checks) or "passed is false"
        return failing(f"the gate of {report.version} failed: {failed}", **details)
    age = hours((now - report.finished_at).total_seconds())
    checks = ", ".join(check.name for check in report.checks)
    return passing(f"gate of {report.version} passed {age} ago ({checks})", **details)
