"""The gate check: a passed gate report for the release about to be deployed."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.preflight.conftest import NOW, gate_report, write_gate
from v11ops.preflight import (
    GATE_REPORT_PATH,
    GateReportError,
    Status,
    judge_gate,
    read_gate_report,
)


def test_gate_report_lives_in_reports() -> None:
    assert Path("reports/gate.json") == GATE_REPORT_PATH


def test_a_passed_gate_for_the_release_passes(tmp_path: Path) -> None:
    verdict = judge_gate(write_gate(tmp_path / "gate.json"), "1.1.0", NOW)
    assert verdict.status == Status.PASS
    assert "gate of 1.1.0 passed 2.0 h ago" in verdict.reason
    assert verdict.details["commit"] == "3f2a9c1"


def test_a_missing_report_fails_and_says_how_to_make_one(tmp_path: Path) -> None:
    verdict = judge_gate(tmp_path / "gate.json", "1.1.0", NOW)
    assert verdict.status == Status.FAIL
    assert "nox -s gate" in verdict.reason and "--skip-gate" in verdict.reason


def test_a_failed_gate_check_fails_naming_it(tmp_path: Path) -> None:
    path = write_gate(tmp_path / "gate.json", failed="coverage_branches")
    verdict = judge_gate(path, None, NOW)
    assert verdict.status == Status.FAIL
    assert "coverage_branches" in verdict.reason


def test_a_gate_of_another_release_fails(tmp_path: Path) -> None:
    verdict = judge_gate(write_gate(tmp_path / "gate.json", "1.0.0"), "1.1.0", NOW)
    assert verdict.status == Status.FAIL
    assert "for 1.0.0, not release 1.1.0" in verdict.reason


def test_without_a_version_any_passed_gate_passes(tmp_path: Path) -> None:
    assert judge_gate(write_gate(tmp_path / "g.json", "0.9"), None, NOW).status == Status.PASS


@pytest.mark.parametrize(
    "text",
    ["not json", "{}", '{"schema": "v11ops.gate/2", "version": "1", "passed": true}',
     '{"version": "1", "passed": true, "finished_at": "2025-06-01T10:00:00", "checks": []}'],
)  # fmt: skip
def test_a_malformed_report_fails_with_the_file_named(tmp_path: Path, text: str) -> None:
    path = tmp_path / "gate.json"
    path.write_text(text)
    with pytest.raises(GateReportError, match=r"gate\.json"):
        read_gate_report(path)
    assert judge_gate(path, None, NOW).status == Status.FAIL


def test_a_written_report_reads_back_the_same(tmp_path: Path) -> None:
    path = write_gate(tmp_path / "reports" / "gate.json")
    assert read_gate_report(path) == gate_report()
    assert '"schema": "v11ops.gate/1"' in path.read_text()
