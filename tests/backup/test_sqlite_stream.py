"""A SQLite backup streamed while SQLite copies it: the header page goes last, the restore puts
it back first, and a page that changed after it was streamed sends the finished copy instead."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from pydantic import ValidationError

from tests.backup.conftest import rows
from v11ops.backup import sqlite_stream
from v11ops.backup.create import BackupRequest, create_backup
from v11ops.backup.errors import IntegrityError
from v11ops.backup.manifest import FileEntry, scan
from v11ops.backup.restore import plaintext, restore_ledger


def _backup_and_restore(url: str, tmp_path: Path) -> FileEntry:
    repo = tmp_path / "repo"
    manifest = create_backup(BackupRequest(db=url, repo=repo, key=None, encrypt=False))
    [entry] = [e for e in scan(repo, None) if e.id == manifest.id]
    target = f"sqlite:///{tmp_path / 'restored.db'}"
    report = restore_ledger(entry, None, target, force=False)
    assert report.ok, report.to_json()
    assert rows(target) == rows(url)
    ledger = manifest.file("ledger")
    assert ledger is not None
    if ledger.format == sqlite_stream.HEADER_LAST:
        stream = b"".join(plaintext(entry, ledger, None))
        assert stream[-(ledger.header_bytes or 0) :].startswith(b"SQLite format 3\x00")
        assert not stream.startswith(b"SQLite format 3\x00")
    return ledger


def test_the_header_page_is_streamed_last_and_restored_first(
    sqlite_url: str, tmp_path: Path
) -> None:
    ledger = _backup_and_restore(sqlite_url, tmp_path)
    page = sqlite_stream.page_size(Path(sqlite_url.removeprefix("sqlite:///")))
    assert (ledger.format, ledger.header_bytes) == ("sqlite-header-last", page)


def test_a_page_that_changed_after_it_was_streamed_sends_the_finished_copy_whole(
    sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = sqlite_stream._stream

    def streamed_bytes_differ(
        fd: int, offset: int, end: int, sink: object, crcs: list[int], base: int
    ) -> int:
        reached = real(fd, offset, end, sink, crcs, base)  # type: ignore[arg-type]
        if sink is None:  # the check's read: as if the file now held other bytes
            crcs[0] ^= 1
        return reached

    monkeypatch.setattr(sqlite_stream, "_stream", streamed_bytes_differ)
    ledger = _backup_and_restore(sqlite_url, tmp_path)
    assert (ledger.format, ledger.header_bytes) == ("sqlite", None)


def test_a_header_last_copy_without_a_header_at_its_end_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "copy.db"
    path.write_bytes(bytes(3 * 4096))
    with path.open("r+b") as f, pytest.raises(IntegrityError, match="not a SQLite header"):
        sqlite_stream.move_header_first(f.fileno(), 4096)
    path.write_bytes(b"SQLite format 3\x00" + bytes(4080))
    with path.open("r+b") as f, pytest.raises(IntegrityError, match="too short"):
        sqlite_stream.move_header_first(f.fileno(), 4096)
    assert path.stat().st_size == 4096, "a refused copy is left as it was"


def test_the_manifest_ties_the_header_size_to_the_header_last_format() -> None:
    entry = {"name": "ledger.sqlite.zst", "role": "ledger", "size_bytes": 1, "plain_bytes": 1}
    entry["sha256"] = "0" * 64
    with pytest.raises(ValidationError, match="header_bytes goes with"):
        FileEntry.model_validate({**entry, "format": "sqlite-header-last"})
    with pytest.raises(ValidationError, match="header_bytes goes with"):
        FileEntry.model_validate({**entry, "format": "sqlite", "header_bytes": 4096})
    ok = FileEntry.model_validate({**entry, "format": "sqlite-header-last", "header_bytes": 4096})
    assert ok.header_bytes == 4096


def test_a_failing_archive_waits_for_the_copy_and_leaves_no_thread(
    sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    class FullDisk:
        def write(self, data: bytes) -> int:
            raise OSError(28, "No space left on device")

    def slow_copy(url: str, path: Path, scratch: Path, copy: sqlite_stream._Copy) -> None:
        scratch.write_bytes(bytes(2 * page))  # something to stream, then a copy still running
        time.sleep(0.3)
        copy.done.set()

    database = Path(sqlite_url.removeprefix("sqlite:///"))
    page = sqlite_stream.page_size(database)
    scratch = tmp_path / "scratch.db"
    scratch.touch()
    monkeypatch.setattr(sqlite_stream, "_copy", slow_copy)
    with pytest.raises(OSError, match="No space left"):
        sqlite_stream.stream_copy(sqlite_url, database, scratch, FullDisk(), page)  # type: ignore[arg-type]
    assert not [t for t in threading.enumerate() if t.name == "backup-copy"]
