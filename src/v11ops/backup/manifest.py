"""The backup repository's layout and each backup's manifest.

    REPO/<id>/manifest.json     written last, atomically (temp, fsync, rename, fsync folder)
    REPO/<id>/ledger.*.zst[.enc], app.tar.zst[.enc]
    REPO/wal/<segment>.zst[.enc]  PostgreSQL WAL archive (`v11ops backup wal-push`)
    REPO/.lock                  flock held while a backup is written, marked or pruned

A folder without a manifest is an unfinished backup and never counts. The manifest records the
SHA-256 and size of every file, tool versions, the source, and the ledger height and tip hash
at backup time; `preflight` reads its `verified` flag (set by a passed restore drill). It carries
a MAC (HMAC-SHA256 under a key derived from the backup key; a plain SHA-256 for unencrypted
backups), so a change to any field is detected as well.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import hmac
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, model_validator

from v11ops.backup.errors import BackupError, BackupUsageError, IntegrityError
from v11ops.backup.keys import BackupKey

MANIFEST_NAME = "manifest.json"
MANIFEST_SCHEMA: Literal["v11ops.backup/1"] = "v11ops.backup/1"
WAL_DIR = "wal"
LOCK_NAME = ".lock"


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class FileEntry(_Model):
    name: str
    role: Literal["ledger", "app", "base"]
    # sqlite-header-last: the SQLite file with its first page moved to the end (sqlite_stream.py)
    format: Literal["sqlite", "sqlite-header-last", "pg_dump", "tar", "pg_basebackup"]
    size_bytes: int = Field(ge=0)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    plain_bytes: int = Field(ge=0)
    header_bytes: int | None = Field(default=None, ge=512, le=65536)  # its first page's size

    @model_validator(mode="after")
    def _header_size_with_header_last(self) -> FileEntry:
        if (self.format == "sqlite-header-last") != (self.header_bytes is not None):
            raise ValueError("header_bytes goes with the sqlite-header-last format, and only it")
        return self


class LedgerState(_Model):
    """The ledger as the backup captured it (one consistent snapshot)."""

    backend: Literal["sqlite", "postgresql"]
    schema_version: int
    height: int
    tip_hash: str
    confirmed: int  # transactions in blocks
    last_seq: int  # arrival number of the newest stored transaction (pending ones included)
    last_accepted_ms: int | None


class Source(_Model):
    backend: Literal["sqlite", "postgresql"]
    url: str  # without a password
    host: str
    identity: str  # sqlite: the file's path; postgresql: system identifier and database


class Encryption(_Model):
    algorithm: Literal["AES-256-GCM"] = "AES-256-GCM"
    key_id: str
    chunk_bytes: int


class Drill(_Model):
    at: AwareDatetime
    ok: bool
    duration_s: float
    height: int | None = None
    tip_hash: str | None = None
    problem: str | None = None
    signatures: bool = False  # Ed25519 signatures re-verified too


class Manifest(_Model):
    schema_id: Literal["v11ops.backup/1"] = Field(default=MANIFEST_SCHEMA, alias="schema")
    id: str = Field(min_length=1)
    kind: Literal["logical", "pg_base"] = "logical"
    reason: str = "manual"
    labels: dict[str, str] = Field(default_factory=dict)
    created_at: AwareDatetime  # the moment of the snapshot: the recovery point
    completed_at: AwareDatetime
    size_bytes: int = Field(ge=0)
    source: Source
    ledger: LedgerState | None
    wal_start: str | None = None  # pg_base: the first WAL segment a restore needs
    tools: dict[str, str]
    compression: dict[str, str | int]
    encryption: Encryption | None
    files: list[FileEntry]
    checked_at: AwareDatetime | None = None  # last `backup verify` that passed
    verified: bool = False  # a restore drill passed (what preflight asks for)
    verified_at: AwareDatetime | None = None
    drills: list[Drill] = Field(default_factory=list)

    @property
    def encrypted(self) -> bool:
        return self.encryption is not None

    def file(self, role: str) -> FileEntry | None:
        return next((f for f in self.files if f.role == role), None)

    @property
    def last_drill(self) -> Drill | None:
        return self.drills[-1] if self.drills else None


def new_backup_id(repo: Path, now: datetime) -> str:
    """Sortable UTC time to the millisecond, e.g. 20250101T120000123Z."""
    base = now.astimezone(UTC).strftime("%Y%m%dT%H%M%S") + f"{now.microsecond // 1000:03d}Z"
    candidate, n = base, 1
    while (repo / candidate).exists():
        n += 1
        candidate = f"{base}-{n}"
    return candidate


# -- the MAC ---------------------------------------------------------------------------------------


def _canonical(data: dict[str, Any]) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":")).encode()


def _mac(data: dict[str, Any], key: BackupKey | None) -> str:
    if key is None:
        return "sha256:" + hashlib.sha256(_canonical(data)).hexdigest()
    return (
        "hmac-sha256:" + hmac.new(key.derive(b"manifest"), _canonical(data), "sha256").hexdigest()
    )


def write_manifest(folder: Path, manifest: Manifest, key: BackupKey | None) -> None:
    """Sign and write `manifest.json` atomically; it is what makes the folder a backup."""
    if manifest.encrypted and key is None:
        raise BackupUsageError("an encrypted backup's manifest can only be signed with its key")
    data = manifest.model_dump(mode="json", by_alias=True)
    data["mac"] = _mac(data, key if manifest.encrypted else None)
    write_atomically(folder / MANIFEST_NAME, (json.dumps(data, indent=2) + "\n").encode())


def read_manifest(folder: Path, key: BackupKey | None) -> tuple[Manifest, bool]:
    """The manifest and whether its MAC was checked (not possible without the key of an
    encrypted backup). IntegrityError when it is unreadable, altered, or the key is wrong."""
    path = folder / MANIFEST_NAME
    try:
        data = json.loads(path.read_bytes())
        mac = data.pop("mac")
        manifest = Manifest.model_validate(data)
    except FileNotFoundError:
        raise
    except (OSError, ValueError, KeyError, TypeError, AttributeError, ValidationError) as exc:
        raise IntegrityError(f"{path}: unreadable manifest ({_short(exc)})") from None
    if manifest.encryption is not None:
        if key is None:
            return manifest, False
        if key.key_id != manifest.encryption.key_id:
            raise BackupUsageError(
                f"wrong key for backup {manifest.id}: it was encrypted with key id"
                f" {manifest.encryption.key_id}, the key given ({key.source}) has id {key.key_id}"
            )
    expected = _mac(data, key if manifest.encrypted else None)
    if not hmac.compare_digest(str(mac), expected):
        raise IntegrityError(f"{path}: the manifest was altered (its MAC does not match)")
    return manifest, True


def _short(exc: Exception) -> str:
    return str(exc).splitlines()[0][:200]


# -- the catalog -----------------------------------------------------------------------------------


class Status(StrEnum):
    COMPLETE = "complete"
    INCOMPLETE = "incomplete"  # no manifest: unfinished or interrupted; never restorable
    CORRUPT = "corrupt"  # manifest unreadable or altered, or a file missing or of another size


@dataclass(frozen=True)
class Entry:
    id: str
    folder: Path
    status: Status
    manifest: Manifest | None
    problem: str | None = None
    authenticated: bool = False

    @property
    def usable(self) -> bool:
        return self.status == Status.COMPLETE and self.manifest is not None


def scan(repo: Path, key: BackupKey | None = None) -> list[Entry]:
    """Every backup folder, oldest first, judged cheaply: manifest, MAC, file sizes (`verify`
    re-reads the contents). A wrong key is an error, not a corrupt backup."""
    entries = []
    if not repo.is_dir():
        return []
    for folder in sorted(p for p in repo.iterdir() if p.is_dir() and not _internal(p.name)):
        entries.append(_judge(folder, key))
    return entries


def _internal(name: str) -> bool:
    return name.startswith(".") or name == WAL_DIR


def _judge(folder: Path, key: BackupKey | None) -> Entry:
    try:
        manifest, authenticated = read_manifest(folder, key)
    except FileNotFoundError:
        return Entry(folder.name, folder, Status.INCOMPLETE, None, "no manifest: unfinished")
    except IntegrityError as exc:
        return Entry(folder.name, folder, Status.CORRUPT, None, str(exc))
    for f in manifest.files:
        path = folder / f.name
        size = path.stat().st_size if path.exists() else None
        if size != f.size_bytes:
            found = "missing" if size is None else f"{size} bytes, manifest says {f.size_bytes}"
            return Entry(folder.name, folder, Status.CORRUPT, manifest, f"{f.name}: {found}")
    return Entry(folder.name, folder, Status.COMPLETE, manifest, None, authenticated)


def pick(entries: list[Entry], backup_id: str | None, kind: str | None = None) -> Entry:
    """The backup with `backup_id`, else the newest complete one (of `kind`)."""
    if backup_id is not None:
        entry = next((e for e in entries if e.id == backup_id), None)
        if entry is None:
            raise BackupUsageError(f"no backup {backup_id!r} in the repository")
        if not entry.usable:
            raise BackupError(f"backup {backup_id} is {entry.status}: {entry.problem}")
        return entry
    usable = [e for e in entries if e.usable and (kind is None or _kind(e) == kind)]
    if not usable:
        raise BackupError("no complete backup in the repository")
    return max(usable, key=lambda e: (_created(e), e.id))


def _kind(entry: Entry) -> str:
    assert entry.manifest is not None
    return entry.manifest.kind


def _created(entry: Entry) -> datetime:
    assert entry.manifest is not None
    return entry.manifest.created_at


# -- files ---------------------------------------------------------------------------------------


def write_atomically(path: Path, data: bytes) -> None:
    """Temp file, fsync, rename, fsync the folder: after a crash the old or the new file."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def repo_lock(repo: Path) -> Iterator[None]:
    """One writer at a time per repository (backup, prune, drill marks): a second waits."""
    repo.mkdir(parents=True, exist_ok=True)
    with (repo / LOCK_NAME).open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def amend_manifest(
    repo: Path, backup_id: str, key: BackupKey | None, change: Callable[[Manifest], Manifest]
) -> Manifest:
    """Re-read, change and re-sign one manifest under the repository lock (drill and verify
    results). The stored files are not touched, so their checksums still hold."""
    with repo_lock(repo):
        folder = repo / backup_id
        manifest, authenticated = read_manifest(folder, key)
        if not authenticated:
            raise BackupUsageError(f"backup {backup_id} is encrypted: its key is needed to sign")
        updated = change(manifest)
        write_manifest(folder, updated, key)
    return updated
