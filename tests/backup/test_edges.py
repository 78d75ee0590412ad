"""Edges of the backup library that the CLI rarely reaches: sources that are not ledgers, tools
that are missing or fail, manifests that lie or were read without the key, and restores that
stop midway. Each leaves nothing half-written behind."""

from __future__ import annotations

import io
import os
import sqlite3
import time
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest

from tests.backup.basebackup import base_backup
from tests.backup.conftest import claim_more_bytes
from tests.backup.ledger import build_ledger
from tests.support.services import fresh_postgres_database
from v11ops.backup.archive import MAGIC, ArchiveWriter, read_archive
from v11ops.backup.create import BackupRequest, create_backup
from v11ops.backup.errors import BackupError, BackupUsageError, IntegrityError
from v11ops.backup.keys import BackupKey
from v11ops.backup.manifest import (
    Entry,
    amend_manifest,
    new_backup_id,
    scan,
    write_atomically,
    write_manifest,
)
from v11ops.backup.restore import restore_ledger, verify_entry, verify_restored
from v11ops.backup.sources import pg_dump, tool_version


def _backup(url: str, repo: Path, key: BackupKey | None) -> Entry:
    manifest = create_backup(BackupRequest(db=url, repo=repo, key=key, encrypt=key is not None))
    [entry] = [e for e in scan(repo, key) if e.id == manifest.id]
    return entry


def _backup_folders(repo: Path) -> list[str]:
    return sorted(p.name for p in repo.iterdir() if not p.name.startswith("."))


# -- sources ----------------------------------------------------------------------------------


def test_a_sqlite_file_without_the_ledger_schema_is_refused(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    empty = tmp_path / "empty.db"
    sqlite3.connect(empty).close()
    with pytest.raises(BackupError, match="online backup failed: no such table: meta"):
        _backup(f"sqlite:///{empty}", repo, None)
    no_version = tmp_path / "meta.db"
    with sqlite3.connect(no_version) as conn:
        conn.execute("CREATE TABLE meta (key TEXT, value TEXT)")
    with pytest.raises(BackupError, match="no ledger schema"):
        _backup(f"sqlite:///{no_version}", repo, None)
    assert _backup_folders(repo) == [], "a failed backup leaves no folder"


def test_snapshot_copies_left_by_a_killed_backup_are_removed_once_stale(
    sqlite_url: str, tmp_path: Path
) -> None:
    folder = tmp_path / "live"
    stale, recent = folder / ".v11ops-snapshot-old.db", folder / ".v11ops-snapshot-new.db"
    stale.write_bytes(b"x")
    recent.write_bytes(b"x")
    two_hours_ago = time.time() - 7200
    os.utime(stale, (two_hours_ago, two_hours_ago))
    _backup(sqlite_url, tmp_path / "repo", None)
    assert not stale.exists(), "older than an hour: no backup is still writing it"
    assert recent.exists(), "may belong to a backup running now"


def test_postgres_sources_that_cannot_be_read_are_one_clear_error(
    tmp_path: Path, key: BackupKey
) -> None:
    repo = tmp_path / "repo"
    with pytest.raises(BackupError, match=r"cannot connect to postgresql://127\.0\.0\.1:1/x"):
        _backup("postgresql://127.0.0.1:1/x", repo, key)
    no_ledger = pytest.raises(BackupError, match='relation "meta" does not exist')
    with fresh_postgres_database() as url, no_ledger:  # a database, but no ledger in it
        _backup(url, repo, key)
    assert _backup_folders(repo) == []


def test_a_missing_or_failing_pg_dump_leaves_no_backup(
    pg_url: str, tmp_path: Path, key: BackupKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(BackupError, match=r"pg_dump of .* failed \(exit 1\): .*snapshot"):
        pg_dump(pg_url, "00000000-0000000A-1", io.BytesIO())
    repo = tmp_path / "repo"
    monkeypatch.setenv("PATH", str(tmp_path / "no-tools"))
    with pytest.raises(BackupUsageError, match="pg_dump is not installed"):
        _backup(pg_url, repo, key)
    assert _backup_folders(repo) == []
    assert tool_version("pg_dump") == "unknown"


def test_restoring_into_a_postgres_server_that_is_unreachable_or_refuses(
    pg_url: str, tmp_path: Path, key: BackupKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    entry = _backup(pg_url, tmp_path / "repo", key)
    with pytest.raises(BackupError, match=r"cannot connect to postgresql://127\.0\.0\.1:1/x"):
        restore_ledger(entry, key, "postgresql://127.0.0.1:1/x", force=False)
    nobody = "postgresql://v11ops_no_such_role@127.0.0.1:5432/v11ops_no_such_db"
    with pytest.raises(BackupError, match="cannot create the database of"):
        restore_ledger(entry, key, nobody, force=False)
    with fresh_postgres_database() as target:
        monkeypatch.setenv("PATH", str(tmp_path / "no-tools"))
        with pytest.raises(BackupUsageError, match="pg_restore is not installed"):
            restore_ledger(entry, key, target, force=False)
        monkeypatch.undo()
        with psycopg.connect(target, autocommit=True) as conn:  # `blocks` is not a table here
            conn.execute("CREATE VIEW blocks AS SELECT 1 AS height")
        with pytest.raises(BackupError, match=r"pg_restore into .* failed \(exit 1\)"):
            restore_ledger(entry, key, target, force=True)
        with psycopg.connect(target) as conn:
            kinds = conn.execute("SELECT relkind FROM pg_class WHERE relname = 'blocks'").fetchall()
        assert kinds == [("v",)], "one transaction: nothing of the failed restore is committed"


# -- manifests and keys -------------------------------------------------------------------------


def test_backup_ids_sort_by_time_and_never_collide(tmp_path: Path) -> None:
    when = datetime(2025, 1, 2, 3, 4, 5, 678_000, tzinfo=UTC)
    first = new_backup_id(tmp_path, when)
    assert first == "20250102T030405678Z"
    (tmp_path / first).mkdir()
    second = new_backup_id(tmp_path, when)
    (tmp_path / second).mkdir()
    assert (second, new_backup_id(tmp_path, when)) == (f"{first}-2", f"{first}-3")


def test_an_encrypted_manifest_is_only_signed_and_amended_with_its_key(
    sqlite_url: str, tmp_path: Path, key: BackupKey
) -> None:
    repo = tmp_path / "repo"
    entry = _backup(sqlite_url, repo, key)
    assert entry.manifest is not None
    with pytest.raises(BackupUsageError, match="can only be signed with its key"):
        write_manifest(entry.folder, entry.manifest, None)
    with pytest.raises(BackupUsageError, match="its key is needed to sign"):
        amend_manifest(repo, entry.id, None, lambda m: m)
    assert scan(repo, key)[0].manifest == entry.manifest, "unchanged"


def test_an_atomic_write_that_fails_leaves_the_old_content_and_no_temp_file(
    tmp_path: Path,
) -> None:
    target = tmp_path / "manifest.json"
    target.mkdir()  # a folder where the file should go: the rename fails
    (target / "keep").write_text("old")
    with pytest.raises(OSError):
        write_atomically(target, b"new")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["manifest.json"]
    assert (target / "keep").read_text() == "old"


def test_a_backup_scanned_without_the_key_is_not_trusted_with_a_key_later(
    sqlite_url: str, tmp_path: Path, key: BackupKey
) -> None:
    """A caller that scanned without the key (the MAC unchecked) cannot verify or restore with
    one: the key must be the backup's, and the manifest must be authenticated first."""
    repo = tmp_path / "repo"
    _backup(sqlite_url, repo, key)
    [unchecked] = scan(repo, None)
    assert not unchecked.authenticated
    with pytest.raises(IntegrityError, match="the manifest was not authenticated"):
        verify_entry(unchecked, key)
    other = BackupKey(os.urandom(32), "other key")
    with pytest.raises(BackupUsageError, match="wrong key for backup"):
        restore_ledger(unchecked, other, f"sqlite:///{tmp_path / 'r.db'}", force=False)
    assert not (tmp_path / "r.db").exists()
    [checked] = scan(repo, key)
    assert [c.name for c in verify_entry(checked, key)] == ["ledger.sqlite.zst.enc"]
    assert scan(repo, key)[0].manifest.checked_at is None  # type: ignore[union-attr]


def test_a_file_removed_after_the_scan_or_shorter_than_recorded_is_caught(
    sqlite_url: str, tmp_path: Path, key: BackupKey
) -> None:
    repo = tmp_path / "repo"
    entry = _backup(sqlite_url, repo, key)
    assert entry.manifest is not None
    plain = entry.manifest.files[0].plain_bytes

    claim_more_bytes(repo, entry.id, key)
    [lying] = scan(repo, key)
    with pytest.raises(IntegrityError, match=f"{plain} bytes restored, the manifest says"):
        verify_entry(lying, key)
    target = tmp_path / "restored" / "ledger.db"
    with pytest.raises(IntegrityError):
        restore_ledger(lying, key, f"sqlite:///{target}", force=False)
    assert list(target.parent.iterdir()) == [], "the partial restore is removed"

    (entry.folder / "ledger.sqlite.zst.enc").unlink()
    with pytest.raises(IntegrityError, match=r"ledger\.sqlite\.zst\.enc is missing"):
        verify_entry(lying, key)


# -- restores ------------------------------------------------------------------------------------


def test_a_backup_of_a_damaged_ledger_restores_but_does_not_verify(
    tmp_path: Path, key: BackupKey
) -> None:
    live = tmp_path / "live.db"
    build_ledger(f"sqlite:///{live}").close()
    with sqlite3.connect(live) as conn:  # damage a confirmed block after the fact
        conn.execute("UPDATE blocks SET tx_count = tx_count + 1 WHERE height = 2")
    entry = _backup(f"sqlite:///{live}", tmp_path / "repo", key)
    report = restore_ledger(entry, key, f"sqlite:///{tmp_path / 'r.db'}", force=False)
    assert not report.ok and report.problem is not None
    assert report.problem.startswith("the restored chain does not verify")


def test_a_restored_file_that_is_not_a_database_is_reported(tmp_path: Path) -> None:
    garbage = tmp_path / "r.db"
    garbage.write_bytes(b"not a database " * 100)
    with pytest.raises(BackupError, match="the restored database does not open"):
        verify_restored(f"sqlite:///{garbage}")


def test_a_base_backup_has_no_ledger_to_restore(tmp_path: Path, key: BackupKey) -> None:
    repo = tmp_path / "repo"
    base_backup(repo, key)
    [entry] = scan(repo, key)
    with pytest.raises(BackupUsageError, match="has no logical ledger copy"):
        restore_ledger(entry, key, f"sqlite:///{tmp_path / 'r.db'}", force=False)


def test_a_postgres_restore_that_fails_midway_commits_nothing(
    pg_url: str, tmp_path: Path, key: BackupKey
) -> None:
    repo = tmp_path / "repo"
    entry = _backup(pg_url, repo, key)

    claim_more_bytes(repo, entry.id, key)
    [lying] = scan(repo, key)
    with fresh_postgres_database() as target:
        with pytest.raises(IntegrityError, match="bytes restored, the manifest says"):
            restore_ledger(lying, key, target, force=False)
        with psycopg.connect(target) as conn:
            tables = conn.execute(
                "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"
            ).fetchone()
        assert tables == (0,), "pg_restore was stopped before it committed"


def test_archive_files_with_trailing_data_or_a_bad_header_are_refused(
    tmp_path: Path, key: BackupKey
) -> None:
    plain = tmp_path / "plain.zst"
    writer = ArchiveWriter(plain, None, 1)
    writer.write(b"ledger" * 1000)
    writer.close()
    plain.write_bytes(plain.read_bytes() + b"trailing")
    with pytest.raises(IntegrityError, match="unexpected data after the end of the stream"):
        b"".join(read_archive(plain, None))
    sealed = tmp_path / "sealed.zst.enc"
    writer = ArchiveWriter(sealed, key, 1)
    writer.write(b"ledger")
    writer.close()
    raw = bytearray(sealed.read_bytes())
    raw[len(MAGIC) : len(MAGIC) + 4] = (16).to_bytes(4, "big")  # a chunk size no writer uses
    sealed.write_bytes(raw)
    with pytest.raises(IntegrityError, match="bad chunk size 16 in the header"):
        b"".join(read_archive(sealed, key))
