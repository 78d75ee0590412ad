"""Preflight edge cases: a disk that cannot be measured, an unreadable gate report, a lock held
by an idle controller. Each is a FAIL with a reason, never an exception."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.preflight.test_deploy_lock import StartController, _status
from tests.preflight.test_deploy_lock import controller as controller  # the fixture
from v11ops.config import Config
from v11ops.preflight import (
    DiskThresholds,
    DiskUsage,
    GateReportError,
    Status,
    judge_deploy_lock,
    judge_disk,
    read_gate_report,
)


def test_a_disk_that_cannot_be_measured_fails_naming_where(tmp_path: Path) -> None:
    def broken(path: Path) -> DiskUsage:
        raise PermissionError(13, "Permission denied")

    verdict = judge_disk(tmp_path, DiskThresholds(), usage=broken)
    assert verdict.status == Status.FAIL
    assert verdict.reason == f"cannot measure free space at {tmp_path}: Permission denied"


def test_a_filesystem_reporting_no_size_fails_instead_of_dividing_by_zero(tmp_path: Path) -> None:
    verdict = judge_disk(
        tmp_path, DiskThresholds(min_free_bytes=0), usage=lambda p: DiskUsage(0, 0, 0)
    )
    assert verdict.status == Status.FAIL and verdict.details["free_ratio"] == 0.0


def test_a_gate_report_that_cannot_be_read_names_the_file(tmp_path: Path) -> None:
    folder = tmp_path / "gate.json"
    folder.mkdir()  # a folder where the report should be
    with pytest.raises(GateReportError, match=f"cannot read the gate report {folder}"):
        read_gate_report(folder)
    binary = tmp_path / "binary.json"
    binary.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(GateReportError, match="cannot read the gate report"):
        read_gate_report(binary)


def test_an_idle_controller_whose_lock_is_held_fails(
    config: Config, controller: StartController
) -> None:
    controller(_status(deploying=False, holder="controller pid=5 host=h"))
    verdict = judge_deploy_lock(config)
    assert verdict.status == Status.FAIL
    assert verdict.reason == "the deploy lock is held by controller pid=5 host=h"
