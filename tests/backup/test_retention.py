"""Retention: last N plus GFS, and never the newest backup that passed a drill."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.backup.conftest import cli
from v11ops.backup.manifest import scan
from v11ops.backup.retention import Candidate, RetentionPolicy, plan_retention

T0 = datetime(2025, 3, 31, 23, 0, tzinfo=UTC)  # a Monday, the last day of a month


def _hourly(n: int, drilled: set[int] = frozenset()) -> list[Candidate]:  # type: ignore[assignment]
    return [Candidate(f"b{i:03d}", T0 - timedelta(hours=6 * i), i in drilled) for i in range(n)]


def test_keep_last_then_one_per_day_week_and_month() -> None:
    backups = _hourly(200)  # every 6 h for 50 days
    plan = plan_retention(
        backups, RetentionPolicy(keep_last=3, keep_daily=2, keep_weekly=2, keep_monthly=2)
    )
    assert [b for b, why in plan.keep.items() if "last" in why] == ["b000", "b001", "b002"]
    assert [b for b, why in plan.keep.items() if "daily" in why] == ["b000", "b004"]
    # b000 (Mon 31 Mar, week 14) and the newest of week 13: Sunday 30 Mar 23:00 is b004.
    assert [b for b, why in plan.keep.items() if "weekly" in why] == ["b000", "b004"]
    # March (b000) and the newest of February: 28 Feb 23:00 is 31 days earlier, b124.
    assert [b for b, why in plan.keep.items() if "monthly" in why] == ["b000", "b124"]
    assert len(plan.delete) == 200 - len(plan.keep)
    assert set(plan.delete).isdisjoint(plan.keep)


def test_the_newest_drilled_backup_is_never_deleted() -> None:
    backups = _hourly(30, drilled={17, 25})
    plan = plan_retention(
        backups, RetentionPolicy(keep_last=1, keep_daily=0, keep_weekly=0, keep_monthly=0)
    )
    assert plan.keep == {"b000": ["last"], "b017": ["newest drilled"]}
    assert "b025" in plan.delete


def test_prune_on_disk_keeps_the_drilled_backup(
    sqlite_url: str, tmp_path: Path, key_file: Path
) -> None:
    repo = tmp_path / "repo"
    args = ["--repo", str(repo), "--key-file", str(key_file)]
    ids = []
    for _ in range(3):
        result = cli("backup", "create", "--db", sqlite_url, *args, "--json")
        assert result.exit_code == 0, result.output
        ids.append(json.loads(result.stdout)["id"])
    assert cli("backup", "drill", *args, "--id", ids[0]).exit_code == 0
    dry = cli(
        "backup",
        "prune",
        "--repo",
        str(repo),
        "--keep-last",
        "1",
        "--keep-daily",
        "0",
        "--keep-weekly",
        "0",
        "--keep-monthly",
        "0",
        "--dry-run",
        "--json",
    )
    assert json.loads(dry.stdout)["deleted"] == [ids[1]]
    assert len(scan(repo)) == 3, "a dry run deletes nothing"
    done = cli(
        "backup",
        "prune",
        "--repo",
        str(repo),
        "--keep-last",
        "1",
        "--keep-daily",
        "0",
        "--keep-weekly",
        "0",
        "--keep-monthly",
        "0",
    )
    assert done.exit_code == 0, done.output
    assert [e.id for e in scan(repo)] == [ids[0], ids[2]]


def test_prune_applies_the_config_retention(
    sqlite_url: str, tmp_path: Path, key_file: Path
) -> None:
    from v11ops.config import DEFAULT_CONFIG_YAML

    config = tmp_path / "v11ops.yaml"
    config.write_text(
        DEFAULT_CONFIG_YAML + "backup:\n  retention:\n    keep_last: 2\n"
        "    keep_daily: 0\n    keep_weekly: 0\n    keep_monthly: 0\n"
    )
    for _ in range(4):
        assert (
            cli(
                "backup",
                "create",
                "--file",
                str(config),
                "--db",
                sqlite_url,
                "--key-file",
                str(key_file),
                "--no-app",
            ).exit_code
            == 0
        )
    repo = tmp_path / ".v11ops" / "backups"
    kept = [e.id for e in scan(repo)][-2:]
    assert cli("backup", "prune", "--file", str(config)).exit_code == 0
    assert [e.id for e in scan(repo)] == kept
    # A manifest edited by hand (back-dated, so retention would drop it) fails its MAC: prune
    # keeps it and reports it, it never deletes evidence.
    manifest = repo / kept[0] / "manifest.json"
    manifest.write_text(manifest.read_text().replace('"created_at": "20', '"created_at": "19'))
    pruned = json.loads(
        cli("backup", "prune", "--file", str(config), "--key-file", str(key_file), "--json").stdout
    )
    assert pruned["corrupt"] == [kept[0]] and pruned["deleted"] == []
    assert [e.id for e in scan(repo)] == kept
