"""The WAL archive and the PITR restore's preparation, without a PostgreSQL server: wal-push
and wal-get as PostgreSQL calls them, and a base backup's data directory made ready to recover.
(test_pitr.py runs the whole path against a real cluster.)"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.backup.basebackup import SEGMENT, base_backup
from tests.backup.conftest import cli
from v11ops.backup.errors import BackupError, BackupUsageError
from v11ops.backup.keys import BackupKey
from v11ops.backup.manifest import (
    MANIFEST_NAME,
    WAL_DIR,
    scan,
)
from v11ops.backup.pitr import (
    archive_command,
    create_base_backup,
    restore_command,
    restore_pitr,
    wal_get,
    wal_push,
    wal_segments_before,
)


def _segment(folder: Path, name: str = SEGMENT, content: bytes | None = None) -> Path:
    path = folder / name
    path.write_bytes(content if content is not None else os.urandom(4096) * 4)
    return path


# -- wal-push and wal-get ---------------------------------------------------------------------


@pytest.mark.parametrize("encrypted", [True, False])
def test_a_pushed_segment_comes_back_byte_for_byte(
    tmp_path: Path, key: BackupKey, encrypted: bool
) -> None:
    repo, pg_wal = tmp_path / "repo", tmp_path / "pg_wal"
    pg_wal.mkdir()
    segment = _segment(pg_wal)
    assert wal_push(repo, segment, key if encrypted else None, encrypt=encrypted) is True
    stored = list((repo / WAL_DIR).iterdir())
    assert [p.name for p in stored] == [SEGMENT + (".zst.enc" if encrypted else ".zst")]
    assert segment.read_bytes() not in stored[0].read_bytes()

    dest = tmp_path / "restored" / "RECOVERYXLOG"
    dest.parent.mkdir()
    assert wal_get(repo, SEGMENT, dest, key if encrypted else None) is True
    assert dest.read_bytes() == segment.read_bytes()
    assert not list(dest.parent.glob(".*.tmp")), "no temporary file left"


def test_a_retried_push_succeeds_and_other_content_is_never_overwritten(
    tmp_path: Path, key: BackupKey
) -> None:
    repo = tmp_path / "repo"
    segment = _segment(tmp_path)
    assert wal_push(repo, segment, key, encrypt=True)
    stored = (repo / WAL_DIR / f"{SEGMENT}.zst.enc").read_bytes()
    assert wal_push(repo, segment, key, encrypt=True) is False, "the same content: a no-op"
    segment.write_bytes(b"other content")
    with pytest.raises(BackupError, match="already archived with other content"):
        wal_push(repo, segment, key, encrypt=True)
    assert (repo / WAL_DIR / f"{SEGMENT}.zst.enc").read_bytes() == stored


def test_wal_names_other_than_postgres_files_are_refused(tmp_path: Path) -> None:
    bad = _segment(tmp_path, "../../etc/passwd".replace("/", "_"))
    with pytest.raises(BackupUsageError, match="is not a WAL segment"):
        wal_push(tmp_path / "repo", bad, None, encrypt=False)
    with pytest.raises(BackupUsageError, match="is not a WAL segment"):
        wal_get(tmp_path / "repo", "../manifest.json", tmp_path / "x", None)
    assert not (tmp_path / "repo").exists(), "nothing is written"
    for name in (SEGMENT + ".partial", "00000002.history", SEGMENT + ".00000028.backup"):
        assert wal_push(tmp_path / "repo", _segment(tmp_path, name), None, encrypt=False)


def test_an_encrypted_archive_needs_the_key_both_ways(tmp_path: Path, key: BackupKey) -> None:
    repo = tmp_path / "repo"
    segment = _segment(tmp_path)
    with pytest.raises(BackupUsageError, match="no key was given"):
        wal_push(repo, segment, None, encrypt=True)
    assert not (repo / WAL_DIR).exists()
    wal_push(repo, segment, key, encrypt=True)
    dest = tmp_path / "out"
    with pytest.raises(BackupUsageError, match=f"archived WAL {SEGMENT} is encrypted"):
        wal_get(repo, SEGMENT, dest, None)
    assert not dest.exists()


def test_a_damaged_archived_segment_leaves_no_file_behind(tmp_path: Path, key: BackupKey) -> None:
    repo = tmp_path / "repo"
    wal_push(repo, _segment(tmp_path), key, encrypt=True)
    stored = repo / WAL_DIR / f"{SEGMENT}.zst.enc"
    raw = bytearray(stored.read_bytes())
    raw[len(raw) // 2] ^= 1
    stored.write_bytes(raw)
    dest = tmp_path / "restored"
    dest.mkdir()
    with pytest.raises(BackupError):
        wal_get(repo, SEGMENT, dest / "RECOVERYXLOG", key)
    assert list(dest.iterdir()) == [], "neither the target nor a temporary file"


def test_wal_push_and_get_through_the_cli_as_postgres_calls_them(
    tmp_path: Path, key_file: Path
) -> None:
    repo = tmp_path / "repo"
    metrics = tmp_path / "textfile"
    segment = _segment(tmp_path)
    common = ["--repo", str(repo), "--key-file", str(key_file)]
    pushed = cli("backup", "wal-push", str(segment), *common, "--metrics-dir", str(metrics))
    assert pushed.exit_code == 0, pushed.output
    assert "v11ops_wal_archive_last_success_timestamp_seconds{" in "".join(
        p.read_text() for p in metrics.glob("*.prom")
    )
    missing = cli("backup", "wal-push", str(tmp_path / (SEGMENT[:-1] + "9")), *common)
    assert missing.exit_code == 2 and "no such WAL file" in missing.output

    dest = tmp_path / "pg_wal_restored"
    got = cli("backup", "wal-get", SEGMENT, str(dest), *common)
    assert got.exit_code == 0, got.output
    assert dest.read_bytes() == segment.read_bytes()
    # The end of the archive: exit 1 and nothing written, which tells recovery to stop there.
    end = cli("backup", "wal-get", "000000010000000000000004", str(tmp_path / "next"), *common)
    assert end.exit_code == 1 and not (tmp_path / "next").exists()


def test_the_light_entry_point_runs_the_backup_commands(tmp_path: Path) -> None:
    """`python -m v11ops.backup`: what archive_command and restore_command start."""
    repo = tmp_path / "repo"
    (repo / WAL_DIR).mkdir(parents=True)
    env = {**os.environ, "V11OPS_BACKUP_KEY": ""}
    argv = [sys.executable, "-m", "v11ops.backup", "wal-get", "--repo", str(repo)]
    end = subprocess.run(
        [*argv, SEGMENT, str(tmp_path / "x")], capture_output=True, text=True, env=env, timeout=60
    )
    assert end.returncode == 1, end.stderr
    bad = subprocess.run(
        [*argv, "nope", str(tmp_path / "x")], capture_output=True, text=True, env=env, timeout=60
    )
    assert bad.returncode == 2
    assert bad.stderr.strip().splitlines() == [
        "error: 'nope' is not a WAL segment, backup label or history file name"
    ]


def test_segments_older_than_the_first_needed_one_are_found_history_files_kept(
    tmp_path: Path,
) -> None:
    repo = tmp_path / "repo"
    assert wal_segments_before(repo, SEGMENT) == [], "no archive yet"
    folder = repo / WAL_DIR
    folder.mkdir(parents=True)
    names = [
        "000000010000000000000001.zst",
        "000000010000000000000002.zst.enc",
        "000000020000000000000002.00000028.backup.zst",
        SEGMENT + ".zst",
        "000000010000000000000004.zst",
        "00000002.history.zst",
    ]
    for name in names:
        (folder / name).write_bytes(b"")
    old = [p.name for p in wal_segments_before(repo, SEGMENT)]
    assert old == names[:3]


def test_the_archive_and_restore_commands_quote_paths(tmp_path: Path) -> None:
    repo = tmp_path / "my repo"
    key_file = tmp_path / "it's.key"
    push = archive_command(repo, key_file, "v11ops")
    assert push == f"v11ops wal-push --repo '{repo}' --key-file '{tmp_path}/it'\"'\"'s.key' \"%p\""
    assert archive_command(repo).endswith(f"-m v11ops.backup wal-push --repo '{repo}' \"%p\"")
    get = restore_command(repo, None)
    assert get.startswith(f"{sys.executable} -m v11ops.backup wal-get --repo '{repo}'")
    assert get.endswith(' %f "%p"')


# -- PITR restore preparation -------------------------------------------------------------------


def test_a_pitr_restore_prepares_the_data_directory_to_recover_to_the_target(
    tmp_path: Path, key: BackupKey, key_file: Path
) -> None:
    repo, datadir = tmp_path / "repo", tmp_path / "pgdata"
    base_backup(repo, key)
    [entry] = scan(repo, key)
    target = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
    plan = restore_pitr(entry, key, repo, datadir, target, key_file, "v11ops")
    assert (datadir / "recovery.signal").exists() and (datadir / "base").is_dir()
    assert datadir.stat().st_mode & 0o777 == 0o700
    conf = (datadir / "postgresql.auto.conf").read_text()
    assert conf.startswith("# auto\n"), "pg_basebackup's settings stay"
    assert "recovery_target_time = '2025-01-02T03:04:05+00:00'" in conf
    assert "recovery_target_action = 'promote'" in conf
    assert f"restore_command = '{plan.restore_command}'" in conf
    assert plan.restore_command == f'v11ops wal-get --repo {repo} --key-file {key_file} %f "%p"'


def test_a_pitr_restore_refuses_a_busy_directory_a_logical_backup_and_a_wrong_key(
    tmp_path: Path, key: BackupKey
) -> None:
    repo, datadir = tmp_path / "repo", tmp_path / "pgdata"
    base_backup(repo, key)
    [entry] = scan(repo, key)
    datadir.mkdir()
    (datadir / "PG_VERSION").write_text("15\n")
    with pytest.raises(BackupUsageError, match="is not empty"):
        restore_pitr(entry, key, repo, datadir, None)
    other = BackupKey(os.urandom(32), "other key")
    with pytest.raises(BackupUsageError, match="wrong key"):
        restore_pitr(entry, other, repo, tmp_path / "fresh", None)
    assert not (tmp_path / "fresh").exists()
    logical = entry.manifest.model_copy(update={"kind": "logical"})  # type: ignore[union-attr]
    with pytest.raises(BackupUsageError, match="not a PostgreSQL base backup"):
        restore_pitr(
            type(entry)(entry.id, entry.folder, entry.status, logical), key, repo, datadir, None
        )


def test_restore_datadir_through_the_cli(tmp_path: Path, key_file: Path, key: BackupKey) -> None:
    repo = tmp_path / "repo"
    backup_id = base_backup(repo, key)
    common = ["--repo", str(repo), "--key-file", str(key_file)]
    both = cli("backup", "restore", *common, "--datadir", str(tmp_path / "d"), "--to", "x")
    assert both.exit_code == 2 and "cannot be combined" in both.output
    nothing = cli("backup", "restore", *common)
    assert nothing.exit_code == 2 and "nothing to restore into" in nothing.output

    to_end = cli("backup", "restore", *common, "--datadir", str(tmp_path / "d1"))
    assert to_end.exit_code == 0, to_end.output
    assert f"from base backup {backup_id}" in to_end.stdout
    assert "end of the WAL archive" in to_end.stdout and "restore_command:" in to_end.stdout
    at = cli(
        "backup", "restore", *common, "--datadir", str(tmp_path / "d2"),
        "--target-time", "2025-01-02T03:04:05",
    )  # fmt: skip
    assert at.exit_code == 0, at.output
    assert "recovery target: 2025-01-02T03:04:05+00:00" in at.stdout, "no zone given: UTC"
    assert "restore_command:" not in at.stdout
    # A logical restore finds no logical backup among base backups.
    logical = cli("backup", "restore", *common, "--to", f"sqlite:///{tmp_path / 'l.db'}")
    assert logical.exit_code == 1 and "no complete backup" in logical.output


def test_a_base_backup_without_pg_basebackup_or_a_server_leaves_nothing(
    tmp_path: Path, key: BackupKey, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = tmp_path / "repo"
    with pytest.raises(BackupError, match=r"cannot connect to postgresql://127\.0\.0\.1:1/none"):
        create_base_backup("postgresql://127.0.0.1:1/none", repo, key, encrypt=True)
    assert [p.name for p in repo.iterdir()] == [".lock"], "the backup folder is removed"
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(BackupUsageError, match="pg_basebackup is not installed"):
        create_base_backup(pg_url, repo, key, encrypt=True)
    assert [p.name for p in repo.iterdir()] == [".lock"]


def test_base_is_refused_for_sqlite(tmp_path: Path, sqlite_url: str) -> None:
    result = cli(
        "backup", "create", "--base", "--db", sqlite_url, "--repo", str(tmp_path / "r"),
        "--no-encrypt",
    )  # fmt: skip
    assert result.exit_code == 2
    assert result.output.strip() == (
        "error: --base is for PostgreSQL (pg_basebackup); a SQLite backup is always full"
    )
    assert not (tmp_path / "r").exists()


def test_the_manifest_of_a_base_backup_lists_it_without_a_ledger(
    tmp_path: Path, key_file: Path, key: BackupKey
) -> None:
    repo = tmp_path / "repo"
    base_backup(repo, key)
    listed = cli("backup", "list", "--repo", str(repo), "--key-file", str(key_file), "--json")
    [entry] = json.loads(listed.stdout)
    assert entry["manifest"]["kind"] == "pg_base" and entry["manifest"]["ledger"] is None
    assert (repo / entry["id"] / MANIFEST_NAME).exists()
