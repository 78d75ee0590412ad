"""`v11ops backup create`: snapshot, compress, encrypt, checksum, then the manifest, last."""

from __future__ import annotations

import platform
import shutil
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import version as package_version
from pathlib import Path
from typing import IO

import structlog

from v11ops import __version__
from v11ops.backup.archive import CHUNK_BYTES, ArchiveWriter
from v11ops.backup.keys import BackupKey, require_key
from v11ops.backup.manifest import (
    Encryption,
    FileEntry,
    LedgerState,
    Manifest,
    Source,
    fsync_dir,
    new_backup_id,
    repo_lock,
    write_manifest,
)
from v11ops.backup.sources import (
    PG_DUMP,
    AppSources,
    backend_of,
    copy_file,
    pg_dump,
    postgres_snapshot,
    sqlite_scratch,
    tool_version,
    write_app_tar,
)
from v11ops.backup.sqlite_stream import (
    HEADER_LAST,
    Rewritten,
    StreamedCopy,
    page_size,
    stream_copy,
)
from v11ops.deploy.crashpoints import maybe_crash

log = structlog.get_logger("v11ops.backup")


@dataclass(frozen=True)
class BackupRequest:
    db: str
    repo: Path
    key: BackupKey | None
    encrypt: bool = True
    level: int = 1
    app: AppSources | None = None
    reason: str = "manual"
    labels: dict[str, str] = field(default_factory=dict)


def create_backup(req: BackupRequest) -> Manifest:
    """Write one backup into a new folder of the repository and return its manifest.

    Encryption fails closed: with `encrypt` and no key nothing is written. Any failure removes
    the folder; a process killed midway leaves a folder without a manifest, which is never a
    backup (`list` shows it incomplete, `prune` removes it).
    """
    backend = backend_of(req.db)
    key = require_key(req.key, "encryption is on (backup.encrypt)") if req.encrypt else None
    ext = ".zst.enc" if key else ".zst"
    with repo_lock(req.repo):
        backup_id = new_backup_id(req.repo, datetime.now(UTC))
        folder = req.repo / backup_id
        folder.mkdir(mode=0o700)
        fsync_dir(req.repo)
        try:
            manifest = _write(req, backend, key, ext, folder, backup_id)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
    return manifest


def _write(
    req: BackupRequest, backend: str, key: BackupKey | None, ext: str, folder: Path, backup_id: str
) -> Manifest:
    files: list[FileEntry] = []
    tools = tool_versions()
    created_at = datetime.now(UTC)
    if backend == "sqlite":
        state, source, ledger = _sqlite_ledger(req, key, folder / f"ledger.sqlite{ext}")
        files.append(ledger)
    else:
        tools["pg_dump"] = tool_version(PG_DUMP)
        with postgres_snapshot(req.db) as (snap_id, state, source):
            files.append(
                _archive(
                    folder / f"ledger.pgdump{ext}",
                    "ledger",
                    "pg_dump",
                    key,
                    req.level,
                    lambda w: pg_dump(req.db, snap_id, w),
                )
            )
    maybe_crash("backup_ledger", "after")
    if req.app is not None:
        app = req.app
        files.append(
            _archive(
                folder / f"app.tar{ext}",
                "app",
                "tar",
                key,
                req.level,
                lambda w: write_app_tar(app, w),
            )
        )
    fsync_dir(folder)
    manifest = Manifest(
        id=backup_id,
        reason=req.reason,
        labels=req.labels,
        created_at=created_at,
        completed_at=datetime.now(UTC),
        size_bytes=sum(f.size_bytes for f in files),
        source=source,
        ledger=state,
        tools=tools,
        compression={"algorithm": "zstd", "level": req.level},
        encryption=Encryption(key_id=key.key_id, chunk_bytes=CHUNK_BYTES) if key else None,
        files=files,
    )
    maybe_crash("backup_manifest", "before")
    write_manifest(folder, manifest, key)
    return manifest


def _sqlite_ledger(
    req: BackupRequest, key: BackupKey | None, path: Path
) -> tuple[LedgerState, Source, FileEntry]:
    """The ledger streamed while SQLite copies it (header page last, sqlite_stream.py); should a
    streamed page have changed afterwards, the finished copy again, whole and in order."""
    with sqlite_scratch(req.db) as (database, scratch, source):
        page = page_size(database)
        copied: list[StreamedCopy] = []

        def stream(sink: IO[bytes]) -> None:
            copied.append(stream_copy(req.db, database, scratch, sink, page))

        entry = _archive(path, "ledger", HEADER_LAST, key, req.level, stream, page)
        # The state was read from the finished copy, so it holds for either way of writing it.
        streamed = copied[0]
        try:
            streamed.confirm()
            return streamed.state, source, entry
        except Rewritten as exc:
            log.warning("streamed copy changed; writing the finished copy whole", reason=str(exc))
        path.unlink()
        entry = _archive(path, "ledger", "sqlite", key, req.level, lambda w: copy_file(scratch, w))
        return streamed.state, source, entry


def _archive(
    path: Path,
    role: str,
    fmt: str,
    key: BackupKey | None,
    level: int,
    produce: Callable[[IO[bytes]], None],
    header_bytes: int | None = None,
) -> FileEntry:
    writer = ArchiveWriter(path, key, level)
    try:
        produce(writer)  # type: ignore[arg-type]
        stored = writer.close()
    except BaseException:
        writer.abort()
        raise
    return FileEntry(
        name=stored.name,
        role=role,  # type: ignore[arg-type]
        format=fmt,  # type: ignore[arg-type]
        size_bytes=stored.size_bytes,
        sha256=stored.sha256,
        plain_bytes=stored.plain_bytes,
        header_bytes=header_bytes,
    )


def tool_versions() -> dict[str, str]:
    """What wrote a backup (recorded in its manifest)."""
    return {
        "v11ops": __version__,
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "zstandard": package_version("zstandard"),
        "cryptography": package_version("cryptography"),
    }
