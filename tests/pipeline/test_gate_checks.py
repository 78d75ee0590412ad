"""The checks the gate session writes to reports/gate.json (`v11ops preflight` reads them), and
the coverage gate script both the gate session and `make test` run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import noxfile
import pytest
from tools import coverage_gate

from tests.pipeline.conftest import ROOT

JUNIT = """<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest" tests="{tests}" failures="{failures}" errors="0"
skipped="{skipped}"></testsuite></testsuites>
"""


@pytest.fixture
def build(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(noxfile, "BUILD", tmp_path)
    (tmp_path / "junit").mkdir()
    return tmp_path


def _junit(build: Path, suite: str, tests: int, failures: int = 0, skipped: int = 0) -> None:
    text = JUNIT.format(tests=tests, failures=failures, skipped=skipped)
    (build / "junit" / f"{suite}.xml").write_text(text)


def test_the_tests_check_sums_every_suite(build: Path) -> None:
    _junit(build, "unit", 10, skipped=1)
    _junit(build, "integration", 5)
    assert noxfile.tests_check() == {
        "name": "tests",
        "passed": True,
        "observed": "14 passed, 0 failed, 1 skipped",
    }


def test_a_failed_test_or_a_suite_without_results_fails_the_tests_check(build: Path) -> None:
    _junit(build, "unit", 10, failures=2)
    check: dict[str, Any] = noxfile.tests_check()
    assert check["passed"] is False
    assert check["observed"] == "8 passed, 2 failed, 0 skipped; no JUnit XML for integration"
    _junit(build, "integration", 3)
    assert noxfile.tests_check()["passed"] is False, "the unit failures still count"


def _gate(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "tools" / "coverage_gate.py"), *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("lines", "branches", "passed"),
    [(95.0, 90.0, (True, True)), (94.99, 97.0, (False, True)), (96.0, 89.5, (True, False))],
)
def test_the_coverage_gate_holds_each_figure_to_its_own_threshold(
    lines: float, branches: float, passed: tuple[bool, bool]
) -> None:
    totals = {"percent_statements_covered": lines, "percent_branches_covered": branches}
    figures = coverage_gate.verdict(totals, (95.0, 90.0))
    assert (figures["lines"]["passed"], figures["branches"]["passed"]) == passed
    assert figures["branches"] == {"observed": branches, "threshold": 90.0, "passed": passed[1]}


def test_the_coverage_gate_reads_its_thresholds_from_pyproject() -> None:
    assert coverage_gate.thresholds() == (95.0, 90.0)


def test_packages_are_listed_weakest_first_with_what_they_miss() -> None:
    def summary(covered: int, statements: int) -> dict[str, dict[str, int]]:
        counts = {"covered_lines": covered, "num_statements": statements}
        return {"summary": {**counts, "covered_branches": 1, "num_branches": 2}}

    table = coverage_gate.package_table({
        "src/v11ops/router/table.py": summary(9, 10),
        "src/v11ops/router/proxy.py": summary(10, 10),
        "src/v11node/node.py": summary(1, 2),
    })  # fmt: skip
    rows = [line.split() for line in table.splitlines()[1:]]
    assert rows == [
        ["v11node", "50.00", "%", "1", "50.00", "%", "1"],
        ["v11ops.router", "95.00", "%", "1", "50.00", "%", "2"],
    ]


def test_a_pattern_without_data_is_named_and_nothing_is_combined(tmp_path: Path) -> None:
    missing = _gate(str(tmp_path / "none.cov.*"))
    assert missing.returncode == 2
    assert (
        missing.stderr.strip() == f"coverage gate: no coverage data matches {tmp_path}/none.cov.*"
    )
