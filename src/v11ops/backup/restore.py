"""`v11ops backup verify` and `restore`: re-check, decrypt, write the target, verify the chain."""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

import psycopg
import yaml
from psycopg import sql

from v11node.ledger.verify import VerifyReport, verify_chain
from v11node.storage import StorageError, open_storage
from v11ops.backup.archive import StreamReader, file_sha256, read_archive
from v11ops.backup.errors import BackupError, BackupUsageError, IntegrityError
from v11ops.backup.keys import BackupKey, require_key
from v11ops.backup.manifest import Entry, FileEntry, Manifest, amend_manifest, fsync_dir
from v11ops.backup.sources import APP_CONFIG, APP_STATE, backend_of, redact, sqlite_path
from v11ops.backup.sqlite_stream import HEADER_LAST, move_header_first

PG_RESTORE = "pg_restore"


def manifest_of(entry: Entry) -> Manifest:
    if entry.manifest is None:
        raise BackupError(f"backup {entry.id} is {entry.status}: {entry.problem}")
    return entry.manifest


def key_for(manifest: Manifest, key: BackupKey | None) -> BackupKey | None:
    """The key an encrypted backup needs (fail closed); None for an unencrypted one."""
    if manifest.encryption is None:
        return None
    key = require_key(key, f"backup {manifest.id} is encrypted")
    if key.key_id != manifest.encryption.key_id:
        raise BackupUsageError(
            f"wrong key for backup {manifest.id}: it was encrypted with key id"
            f" {manifest.encryption.key_id}, the key given ({key.source}) has id {key.key_id}"
        )
    return key


def check_files(entry: Entry, files: list[FileEntry]) -> None:
    """Size and SHA-256 of each stored file against the manifest (before anything is written)."""
    for f in files:
        path = entry.folder / f.name
        if not path.exists():
            raise IntegrityError(f"backup {entry.id}: {f.name} is missing")
        size, digest = file_sha256(path)
        if (size, digest) != (f.size_bytes, f.sha256):
            raise IntegrityError(
                f"backup {entry.id}: {f.name} does not match its manifest"
                f" ({size} bytes, sha256 {digest[:16]}..; manifest: {f.size_bytes} bytes,"
                f" sha256 {f.sha256[:16]}..)"
            )


def plaintext(entry: Entry, f: FileEntry, key: BackupKey | None) -> Iterator[bytes]:
    """Decrypted, decompressed content; checks the length the manifest recorded at the end."""
    total = 0
    for piece in read_archive(entry.folder / f.name, key):
        total += len(piece)
        yield piece
    if total != f.plain_bytes:
        raise IntegrityError(f"{f.name}: {total} bytes restored, the manifest says {f.plain_bytes}")


@dataclass(frozen=True)
class FileCheck:
    name: str
    stored_bytes: int
    plain_bytes: int


def verify_entry(
    entry: Entry, key: BackupKey | None, record_in: Path | None = None
) -> list[FileCheck]:
    """Checksums, then a full decryption and decompression of every file (no target written).
    With `record_in` (the repository), a pass is recorded as the manifest's `checked_at`."""
    manifest = manifest_of(entry)
    key = key_for(manifest, key)
    if manifest.encrypted and not entry.authenticated:
        raise IntegrityError(f"backup {entry.id}: the manifest was not authenticated")
    check_files(entry, manifest.files)
    checks = []
    for f in manifest.files:
        for _ in plaintext(entry, f, key):
            pass
        checks.append(FileCheck(f.name, f.size_bytes, f.plain_bytes))
    if record_in is not None:
        now = datetime.now(UTC)
        amend_manifest(record_in, entry.id, key, lambda m: m.model_copy(update={"checked_at": now}))
    return checks


# -- the ledger ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class RestoreReport:
    backup_id: str
    target: str
    restore_s: float
    verify_s: float
    chain: VerifyReport
    problem: str | None

    @property
    def ok(self) -> bool:
        return self.problem is None

    def to_json(self) -> dict[str, object]:
        return {
            "backup": self.backup_id,
            "target": self.target,
            "ok": self.ok,
            "problem": self.problem,
            "restoreSeconds": round(self.restore_s, 3),
            "verifySeconds": round(self.verify_s, 3),
            "chain": self.chain.to_json(),
        }


def restore_ledger(
    entry: Entry, key: BackupKey | None, to_url: str, force: bool, signatures: bool = True
) -> RestoreReport:
    """Restore into `to_url` (empty, unless `force`), then verify the chain against the manifest:
    every hash, signature (unless `signatures` is False) and balance, and the height and tip
    hash recorded at backup time."""
    manifest = manifest_of(entry)
    ledger = manifest.file("ledger")
    if ledger is None or manifest.ledger is None:
        raise BackupUsageError(f"backup {entry.id} has no logical ledger copy to restore")
    backend = backend_of(to_url)
    if backend != manifest.ledger.backend:
        raise BackupUsageError(
            f"backup {entry.id} is a {manifest.ledger.backend} ledger: restore it to a"
            f" {'sqlite:///PATH' if manifest.ledger.backend == 'sqlite' else 'postgresql://'} URL"
        )
    key = key_for(manifest, key)
    started = time.perf_counter()
    check_files(entry, [ledger])
    if backend == "sqlite":
        header_last = ledger.header_bytes if ledger.format == HEADER_LAST else None
        _restore_sqlite(plaintext(entry, ledger, key), sqlite_path(to_url), force, header_last)
    else:
        _restore_postgres(plaintext(entry, ledger, key), to_url, force)
    restored = time.perf_counter()
    chain = verify_restored(to_url, signatures)
    return RestoreReport(
        entry.id,
        redact(to_url),
        restored - started,
        time.perf_counter() - restored,
        chain,
        _compare(chain, manifest),
    )


def verify_restored(url: str, signatures: bool = True) -> VerifyReport:
    """`v11ops node verify` on the restored database."""
    try:
        storage = open_storage(url)
    except StorageError as exc:
        raise BackupError(f"the restored database does not open: {exc}") from None
    try:
        return verify_chain(storage, signatures=signatures)
    finally:
        storage.close()


def _compare(chain: VerifyReport, manifest: Manifest) -> str | None:
    assert manifest.ledger is not None
    if not chain.ok:
        return f"the restored chain does not verify: {chain.problem}"
    expected = (manifest.ledger.height, manifest.ledger.tip_hash)
    if (chain.height, chain.tip_hash) != expected:
        return (
            f"restored height {chain.height} tip {chain.tip_hash[:16]}.. differs from the"
            f" manifest's height {expected[0]} tip {expected[1][:16]}.."
        )
    return None


def _restore_sqlite(
    pieces: Iterator[bytes], path: Path, force: bool, header_last: int | None = None
) -> None:
    """Write the database file; `header_last`: the stream holds pages 2..N, then page 1, of
    this size (sqlite_stream.py), so the pages go after a gap that page 1 fills at the end."""
    if path.exists() and path.stat().st_size > 0 and not force:
        raise BackupUsageError(f"{path} exists and is not empty; add --force to replace it")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".v11ops-restore-", suffix=".db")
    try:
        with os.fdopen(fd, "wb") as out:
            if header_last is not None:
                out.seek(header_last)
            for piece in pieces:
                out.write(piece)
            out.flush()
            if header_last is not None:
                move_header_first(out.fileno(), header_last)
            os.fsync(out.fileno())
        # The old database's WAL would be replayed onto the restored file: remove it first.
        for suffix in ("-wal", "-shm", "-journal"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def _restore_postgres(pieces: Iterator[bytes], url: str, force: bool) -> None:
    nonempty = _prepare_database(url)
    if nonempty and not force:
        raise BackupUsageError(f"{redact(url)} already has tables; add --force to replace them")
    argv = [
        PG_RESTORE,
        "--no-owner",
        "--no-privileges",
        "--exit-on-error",
        "--single-transaction",
        f"--dbname={url}",
    ]
    if nonempty:
        argv += ["--clean", "--if-exists"]
    with tempfile.TemporaryFile() as errors:
        try:
            proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stderr=errors)
        except FileNotFoundError:
            raise BackupUsageError(f"{PG_RESTORE} is not installed") from None
        assert proc.stdin is not None
        try:
            for piece in pieces:
                proc.stdin.write(piece)
            proc.stdin.close()
        except BrokenPipeError:
            pass  # pg_restore stopped early: its exit code and stderr say why
        except BaseException:
            proc.kill()  # one transaction: nothing of a partial restore is committed
            proc.wait()
            raise
        code = proc.wait()
        if code != 0:
            errors.seek(0)
            detail = errors.read().decode(errors="replace").strip().splitlines()
            raise BackupError(f"pg_restore into {redact(url)} failed (exit {code}): {detail[-1:]}")


def _prepare_database(url: str) -> bool:
    """Create the target database if it does not exist; True when it already has tables."""
    try:
        conn = psycopg.connect(url, connect_timeout=10, autocommit=True)
    except psycopg.OperationalError as exc:
        if "does not exist" not in str(exc):
            raise BackupError(f"cannot connect to {redact(url)}: {exc}") from None
        create_database(url)
        return False
    with conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')"
            " AND n.nspname NOT LIKE 'pg_toast%' AND c.relkind IN ('r', 'p', 'v', 'm', 'S')"
        ).fetchone()
    return bool(row and row[0])


def with_database(url: str, name: str) -> str:
    """The same server and user, another database."""
    return urlsplit(url)._replace(path=f"/{name}").geturl()


def admin_url(url: str) -> str:
    """The same server's `postgres` database."""
    return with_database(url, "postgres")


def database_name(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


def create_database(url: str) -> None:
    try:
        with psycopg.connect(admin_url(url), connect_timeout=10, autocommit=True) as admin:
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database_name(url))))
    except psycopg.Error as exc:
        raise BackupError(f"cannot create the database of {redact(url)}: {exc}") from None


def drop_database(url: str) -> None:
    with psycopg.connect(admin_url(url), connect_timeout=10, autocommit=True) as admin:
        admin.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(database_name(url))
            )
        )


# -- the application side -------------------------------------------------------------------------


def restore_app(
    entry: Entry,
    key: BackupKey | None,
    config_dir: Path | None,
    state_dir: Path | None,
    force: bool,
) -> list[Path]:
    """Put the config file into `config_dir` and the controller state into `state_dir` (default:
    the `state_dir` the restored config names, relative to `config_dir`). Existing files are
    replaced only with `force`. Returns the files written."""
    manifest = manifest_of(entry)
    app = manifest.file("app")
    if app is None:
        raise BackupUsageError(f"backup {entry.id} has no application files")
    key = key_for(manifest, key)
    check_files(entry, [app])
    anchor = config_dir or state_dir
    assert anchor is not None, "restore_app needs a config or a state destination"
    anchor.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=anchor, prefix=".v11ops-restore-") as tmp:
        staged = Path(tmp)
        reader = io.BufferedReader(StreamReader(plaintext(entry, app, key)), 1 << 20)
        with tarfile.open(fileobj=reader, mode="r|") as tar:
            tar.extractall(staged, filter="data")
        moves = _app_targets(staged, config_dir, state_dir)
        clash = [str(dst) for _, dst in moves if dst.exists()]
        if clash and not force:
            raise BackupUsageError(f"{', '.join(clash)} already exist; add --force to replace")
        for src, dst in moves:
            dst.parent.mkdir(parents=True, exist_ok=True)
            if dst.name == "state.db":
                for suffix in ("-wal", "-shm"):
                    Path(f"{dst}{suffix}").unlink(missing_ok=True)
            shutil.move(src, dst)
            fsync_dir(dst.parent)
    return [dst for _, dst in moves]


def _app_targets(
    staged: Path, config_dir: Path | None, state_dir: Path | None
) -> list[tuple[Path, Path]]:
    configs = sorted((staged / APP_CONFIG).glob("*"))
    moves: list[tuple[Path, Path]] = []
    if config_dir is not None:
        moves += [(c, config_dir / c.name) for c in configs]
    if state_dir is None and config_dir is not None:
        state_dir = config_dir / _state_dir_of(configs[0]) if configs else None
    if state_dir is not None:
        moves += [(s, state_dir / s.name) for s in sorted((staged / APP_STATE).glob("*"))]
    return moves


def _state_dir_of(config: Path) -> PurePosixPath:
    with contextlib.suppress(yaml.YAMLError, OSError):
        data = yaml.safe_load(config.read_text())
        if isinstance(data, dict) and isinstance(data.get("state_dir"), str):
            return PurePosixPath(data["state_dir"])
    return PurePosixPath(".v11ops")
