"""PostgreSQL point-in-time recovery: continuous WAL archiving and base backups.

    archive_command = 'v11ops backup wal-push --repo REPO %p'
    restore_command = 'v11ops backup wal-get --repo REPO %f %p'   (written by a PITR restore)

`wal-push` stores each finished WAL segment compressed (and encrypted) in REPO/wal/, atomically,
and never overwrites a segment with other content (PostgreSQL retries a push after a crash: the
same content succeeds again). A base backup is `pg_basebackup` as a tar stream (WAL included),
stored like any backup with kind `pg_base`. A restore extracts it into an empty data directory
with `recovery.signal` and `recovery_target_time`: on start PostgreSQL replays the archived WAL up
to that moment and promotes. With `archive_timeout` at most T seconds, RPO is at most T plus the
push time.
"""

from __future__ import annotations

import io
import os
import re
import shlex
import shutil
import sys
import tarfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import psycopg

from v11ops.backup.archive import CHUNK_BYTES, ArchiveWriter, StreamReader, read_archive
from v11ops.backup.create import tool_versions
from v11ops.backup.errors import BackupError, BackupUsageError
from v11ops.backup.keys import BackupKey, require_key
from v11ops.backup.manifest import (
    WAL_DIR,
    Encryption,
    Entry,
    FileEntry,
    Manifest,
    Source,
    fsync_dir,
    new_backup_id,
    repo_lock,
    write_manifest,
)
from v11ops.backup.restore import check_files, key_for, manifest_of, plaintext
from v11ops.backup.sources import redact, run_piped, tool_version

PG_BASEBACKUP = "pg_basebackup"
_SEGMENT = re.compile(r"^[0-9A-F]{24}(\.partial|\.[0-9A-F]{8}\.backup)?$")
_WAL_NAME = re.compile(r"^([0-9A-F]{24}(\.partial|\.[0-9A-F]{8}\.backup)?|[0-9A-F]{8}\.history)$")


def _wal_name(name: str) -> str:
    if not _WAL_NAME.fullmatch(name):
        raise BackupUsageError(f"{name!r} is not a WAL segment, backup label or history file name")
    return name


def wal_push(
    repo: Path, segment: Path, key: BackupKey | None, encrypt: bool, level: int = 1
) -> bool:
    """Archive one WAL file; False when the same content was already archived."""
    name = _wal_name(segment.name)
    key = require_key(key, "encryption is on (backup.encrypt)") if encrypt else None
    folder = repo / WAL_DIR
    folder.mkdir(parents=True, exist_ok=True)
    dest = folder / (name + (".zst.enc" if key else ".zst"))
    content = segment.read_bytes()
    if dest.exists():
        if b"".join(read_archive(dest, key)) == content:
            return False
        raise BackupError(f"{dest} is already archived with other content; refusing to overwrite")
    tmp = folder / f".{dest.name}.{os.getpid()}.tmp"
    writer = ArchiveWriter(tmp, key, level, name=dest.name)
    try:
        writer.write(content)
        writer.close()
        os.replace(tmp, dest)
    except BaseException:
        writer.abort()
        raise
    fsync_dir(folder)
    return True


def wal_get(repo: Path, name: str, dest: Path, key: BackupKey | None) -> bool:
    """Restore one archived WAL file to `dest`; False when it is not in the archive (normal: it
    is how recovery learns that the archive ends)."""
    name = _wal_name(name)
    folder = repo / WAL_DIR
    encrypted, plain = folder / f"{name}.zst.enc", folder / f"{name}.zst"
    if encrypted.exists():
        source, key = encrypted, require_key(key, f"archived WAL {name} is encrypted")
    elif plain.exists():
        source, key = plain, None
    else:
        return False
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
    try:
        with tmp.open("wb") as out:
            for piece in read_archive(source, key):
                out.write(piece)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return True


def create_base_backup(
    url: str, repo: Path, key: BackupKey | None, encrypt: bool, level: int = 1
) -> Manifest:
    """`pg_basebackup` (tar, WAL fetched into it) of the server behind `url`."""
    key = require_key(key, "encryption is on (backup.encrypt)") if encrypt else None
    ext = ".zst.enc" if key else ".zst"
    with repo_lock(repo):
        backup_id = new_backup_id(repo, datetime.now(UTC))
        folder = repo / backup_id
        folder.mkdir()
        try:
            created_at, wal_start, source = _server_position(url)
            writer = ArchiveWriter(folder / f"base.tar{ext}", key, level)
            argv = [
                PG_BASEBACKUP,
                f"--dbname={url}",
                "--pgdata=-",
                "--format=tar",
                "--wal-method=fetch",
                "--checkpoint=fast",
            ]
            try:
                run_piped(argv, writer, f"pg_basebackup of {redact(url)}")  # type: ignore[arg-type]
                stored = writer.close()
            except BaseException:
                writer.abort()
                raise
            fsync_dir(folder)
            entry = FileEntry(
                name=stored.name,
                role="base",
                format="pg_basebackup",
                size_bytes=stored.size_bytes,
                sha256=stored.sha256,
                plain_bytes=stored.plain_bytes,
            )
            manifest = Manifest(
                id=backup_id,
                kind="pg_base",
                created_at=created_at,
                completed_at=datetime.now(UTC),
                size_bytes=stored.size_bytes,
                source=source,
                ledger=None,
                wal_start=wal_start,
                tools={**tool_versions(), "pg_basebackup": tool_version(PG_BASEBACKUP)},
                compression={"algorithm": "zstd", "level": level},
                encryption=Encryption(key_id=key.key_id, chunk_bytes=CHUNK_BYTES) if key else None,
                files=[entry],
            )
            write_manifest(folder, manifest, key)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
    return manifest


def _server_position(url: str) -> tuple[datetime, str, Source]:
    try:
        with psycopg.connect(url, connect_timeout=10) as conn:
            now, wal, sysid = conn.execute(
                "SELECT now(), pg_walfile_name(pg_current_wal_lsn()), system_identifier"
                " FROM pg_control_system()"
            ).fetchone()  # type: ignore[misc]
            host = conn.info.host
    except psycopg.Error as exc:
        raise BackupError(f"cannot connect to {redact(url)}: {exc}") from None
    source = Source(backend="postgresql", url=redact(url), host=host, identity=f"system {sysid}")
    return now, str(wal), source


@dataclass(frozen=True)
class PitrPlan:
    datadir: Path
    target_time: datetime | None
    restore_command: str


def restore_pitr(
    entry: Entry,
    key: BackupKey | None,
    repo: Path,
    datadir: Path,
    target_time: datetime | None,
    key_file: Path | None = None,
    command: str | None = None,
) -> PitrPlan:
    """Prepare `datadir` (new or empty) to recover to `target_time` (None: the end of the archive).

    Start PostgreSQL on it (as the owner of the files in the base backup): it fetches WAL with
    `v11ops backup wal-get`, stops at the target and promotes. The key reaches wal-get through
    `key_file`, or through $V11OPS_BACKUP_KEY in the server's environment; `command` is how
    the server starts v11ops (default: `v11ops_command()`).
    """
    manifest = manifest_of(entry)
    base = manifest.file("base")
    if manifest.kind != "pg_base" or base is None:
        raise BackupUsageError(f"backup {entry.id} is not a PostgreSQL base backup")
    key = key_for(manifest, key)
    if datadir.exists() and any(datadir.iterdir()):
        raise BackupUsageError(f"{datadir} is not empty: a PITR restore needs an empty directory")
    check_files(entry, [base])
    datadir.mkdir(parents=True, exist_ok=True)
    reader = io.BufferedReader(StreamReader(plaintext(entry, base, key)), 1 << 20)
    with tarfile.open(fileobj=reader, mode="r|") as tar:
        # The "tar" filter (PEP 706) refuses absolute names, `..` and links out of datadir, and
        # keeps the owner recorded by pg_basebackup (which "data" would not).
        tar.extractall(datadir, filter="tar")  # nosec B202: members checked by filter="tar"
    stat = next(iter(datadir.glob("PG_VERSION"))).stat()
    os.chown(datadir, stat.st_uid, stat.st_gid)
    datadir.chmod(0o700)
    restore = restore_command(repo, key_file, command)
    settings = [f"restore_command = '{_quote(restore)}'", "recovery_target_action = 'promote'"]
    if target_time is not None:
        settings.append(f"recovery_target_time = '{target_time.astimezone(UTC).isoformat()}'")
    with (datadir / "postgresql.auto.conf").open("a") as conf:
        conf.write("\n# v11ops PITR restore\n" + "\n".join(settings) + "\n")
    (datadir / "recovery.signal").touch()
    for made in (datadir / "recovery.signal", datadir / "postgresql.auto.conf"):
        os.chown(made, stat.st_uid, stat.st_gid)
    return PitrPlan(datadir, target_time, restore)


def v11ops_command() -> str:
    """How PostgreSQL starts the backup commands: this interpreter, the light entry point."""
    return f"{shlex.quote(sys.executable)} -m v11ops.backup"


def restore_command(repo: Path, key_file: Path | None, command: str | None = None) -> str:
    argv = ["wal-get", "--repo", str(repo)]
    if key_file is not None:
        argv += ["--key-file", str(key_file)]
    args = " ".join(shlex.quote(a) for a in argv)
    return f'{command or v11ops_command()} {args} %f "%p"'


def _quote(value: str) -> str:
    return value.replace("'", "''")


def wal_segments_before(repo: Path, first_needed: str) -> list[Path]:
    """Archived segments older than `first_needed` (timeline ignored, as pg_archivecleanup
    does); history files are always kept."""
    folder = repo / WAL_DIR
    if not folder.is_dir():
        return []
    old = []
    for path in folder.iterdir():
        name = path.name.split(".zst")[0]
        if _SEGMENT.match(name) and name[8:24] < first_needed[8:24]:
            old.append(path)
    return sorted(old)


def archive_command(repo: Path, key_file: Path | None = None, command: str | None = None) -> str:
    """The `archive_command` setting that pushes into `repo` (`command`: how the server starts
    v11ops, default: this interpreter with `-m v11ops.backup`)."""
    argv = ["wal-push", "--repo", str(repo)]
    if key_file is not None:
        argv += ["--key-file", str(key_file)]
    args = " ".join(shlex.quote(a) for a in argv)
    return f'{command or v11ops_command()} {args} "%p"'
