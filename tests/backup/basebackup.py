"""A PostgreSQL base backup in the repository, made without a server (none runs in most tests):
a real archive and signed manifest around a tar with what pg_basebackup puts at the top."""

from __future__ import annotations

import io
import tarfile
from datetime import UTC, datetime
from pathlib import Path

from v11ops.backup.archive import CHUNK_BYTES, ArchiveWriter
from v11ops.backup.keys import BackupKey
from v11ops.backup.manifest import Encryption, FileEntry, Manifest, Source, write_manifest

SEGMENT = "000000010000000000000003"


def _data_tar() -> bytes:
    """What pg_basebackup's tar holds at the top (a stand-in: no server runs here)."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        for name, data in (("PG_VERSION", b"15\n"), ("postgresql.auto.conf", b"# auto\n")):
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o600
            tar.addfile(info, io.BytesIO(data))
        folder = tarfile.TarInfo("base")
        folder.type, folder.mode = tarfile.DIRTYPE, 0o700
        tar.addfile(folder)
    return out.getvalue()


def base_backup(
    repo: Path,
    key: BackupKey | None,
    backup_id: str = "20250101T000000000Z",
    wal_start: str = SEGMENT,
) -> str:
    folder = repo / backup_id
    folder.mkdir(parents=True)
    name = "base.tar" + (".zst.enc" if key else ".zst")
    writer = ArchiveWriter(folder / name, key, 1)
    data = _data_tar()
    writer.write(data)
    stored = writer.close()
    now = datetime.now(UTC)
    manifest = Manifest(
        id=backup_id,
        kind="pg_base",
        created_at=now,
        completed_at=now,
        size_bytes=stored.size_bytes,
        source=Source(backend="postgresql", url="postgresql://h/db", host="h", identity="s 1"),
        ledger=None,
        wal_start=wal_start,
        tools={},
        compression={"algorithm": "zstd", "level": 1},
        encryption=Encryption(key_id=key.key_id, chunk_bytes=CHUNK_BYTES) if key else None,
        files=[
            FileEntry(
                name=name,
                role="base",
                format="pg_basebackup",
                size_bytes=stored.size_bytes,
                sha256=stored.sha256,
                plain_bytes=len(data),
            )
        ],
    )
    write_manifest(folder, manifest, key)
    return backup_id
