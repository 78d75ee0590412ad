"""`v11ops backup schedule`: a backup every interval (the SQLite RPO), or a systemd timer."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.backup.conftest import cli
from v11ops.backup.errors import BackupUsageError
from v11ops.backup.manifest import scan
from v11ops.backup.schedule import parse_interval
from v11ops.config import DEFAULT_CONFIG_YAML


def test_intervals() -> None:
    assert [parse_interval(t) for t in ("30s", "5m", "1h", "1d")] == [30, 300, 3600, 86400]
    for bad in ("0m", "5", "m5", "1.5h"):
        with pytest.raises(BackupUsageError):
            parse_interval(bad)


def test_schedule_backs_up_and_prunes_every_interval(
    sqlite_url: str, tmp_path: Path, key_file: Path
) -> None:
    config = tmp_path / "v11ops.yaml"
    config.write_text(DEFAULT_CONFIG_YAML + "backup:\n  retention: {keep_last: 2, keep_daily: 0,"
                      " keep_weekly: 0, keep_monthly: 0}\n")  # fmt: skip
    result = cli("backup", "schedule", "--file", str(config), "--db", sqlite_url, "--key-file",
                 str(key_file), "--every", "1s", "--count", "3", "--drill")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert result.output.count("drill passed") == 3
    entries = scan(tmp_path / ".v11ops" / "backups")
    assert len(entries) == 2 and all(e.usable for e in entries), "pruned to the last 2"
    assert all(e.manifest and e.manifest.reason == "scheduled" for e in entries)

    no_key = cli("backup", "schedule", "--file", str(config), "--db", sqlite_url, "--once")
    assert no_key.exit_code == 2 and "no key" in no_key.output, "fails closed before looping"


def test_schedule_writes_a_systemd_service_and_timer(tmp_path: Path) -> None:
    config = tmp_path / "v11ops.yaml"
    config.write_text(DEFAULT_CONFIG_YAML)
    units = tmp_path / "units"
    result = cli("backup", "schedule", "--file", str(config), "--every", "5m", "--systemd",
                 str(units), "--user", "v11ops")  # fmt: skip
    assert result.exit_code == 0, result.output
    service = (units / "v11ops-backup.service").read_text()
    timer = (units / "v11ops-backup.timer").read_text()
    assert "Type=oneshot" in service and "User=v11ops" in service
    assert f"schedule --once --file {config}" in service
    assert "OnUnitActiveSec=300s" in timer and "WantedBy=timers.target" in timer
