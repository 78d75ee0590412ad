"""`v11ops dr drill`: lose the data directory under load, recover, and measure RTO and RPO."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.backup.conftest import cli

pytestmark = [pytest.mark.slow, pytest.mark.timeout(400)]


def test_dr_drill_recovers_and_reports_rto_and_rpo(tmp_path: Path) -> None:
    result = cli(
        "dr",
        "drill",
        "--rate",
        "60",
        "--before",
        "2",
        "--between",
        "2",
        "--workdir",
        str(tmp_path / "dr"),
        "--json",
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["ok"] and report["problems"] == []
    assert report["smoke_passed"], report["smoke_summary"]
    assert 0 < report["rto_s"] < 400 and report["restore_s"] > 0 and report["verify_s"] > 0
    # RPO: the seconds from the backup's snapshot to the loss, and what the load saw
    # acknowledged in between and the restored ledger lacks.
    assert report["rpo_s"] >= 2
    assert 0 < report["lost_transactions"] < report["acknowledged"]
    assert report["height_after"] >= report["height_backed_up"] > 0
    assert not (tmp_path / "dr" / ".v11ops" / "controller.sock").exists(), "all stopped"
