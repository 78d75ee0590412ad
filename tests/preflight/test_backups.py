"""The backup check: a verified backup younger than 24 h."""

from __future__ import annotations

from datetime import timedelta

from tests.preflight.conftest import NOW, write_backup
from v11ops.config import Config
from v11ops.preflight import Status, backups_folder, judge_backups, read_backup_catalog

DAY = timedelta(hours=24)


def _judge(config: Config) -> tuple[Status, str]:
    verdict = judge_backups(read_backup_catalog(config.state_path), NOW, DAY)
    return verdict.status, verdict.reason


def test_no_backup_fails(config: Config) -> None:
    status, reason = _judge(config)
    assert status == Status.FAIL and "no backup in" in reason


def test_a_verified_backup_of_today_passes(config: Config) -> None:
    write_backup(config, "b1", NOW - timedelta(hours=3))
    assert _judge(config) == (Status.PASS, "verified backup b1, 3.0 h old (limit 24.0 h)")


def test_a_verified_backup_older_than_a_day_fails(config: Config) -> None:
    write_backup(config, "old", NOW - timedelta(hours=30))
    status, reason = _judge(config)
    assert status == Status.FAIL and "old, is 30.0 h old (limit 24.0 h)" in reason


def test_an_unverified_backup_never_counts(config: Config) -> None:
    write_backup(config, "old", NOW - timedelta(hours=30))
    write_backup(config, "fresh", NOW - timedelta(hours=1), verified=False)
    status, reason = _judge(config)
    assert status == Status.FAIL and "old" in reason
    (backups_folder(config.state_path) / "old" / "manifest.json").unlink()
    status, reason = _judge(config)
    assert status == Status.FAIL and "fresh (1.0 h old), is not verified" in reason


def test_a_folder_without_a_manifest_is_an_unfinished_backup(config: Config) -> None:
    (backups_folder(config.state_path) / "partial").mkdir(parents=True)
    assert _judge(config)[0] == Status.FAIL


def test_an_unreadable_manifest_is_reported_and_the_rest_still_count(config: Config) -> None:
    write_backup(config, "good", NOW - timedelta(hours=1))
    broken = backups_folder(config.state_path) / "broken"
    broken.mkdir()
    (broken / "manifest.json").write_text("{not json")
    verdict = judge_backups(read_backup_catalog(config.state_path), NOW, DAY)
    assert verdict.status == Status.PASS
    assert verdict.details["unreadable"] == [str(broken / "manifest.json")]
