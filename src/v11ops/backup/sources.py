"""What a backup reads: a consistent snapshot of the ledger (SQLite online backup API, or
`pg_dump` inside an exported snapshot) and the application side (config, controller state)."""

from __future__ import annotations

import contextlib
import os
import socket
import sqlite3
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import psycopg

from v11ops.backup.errors import BackupError, BackupUsageError
from v11ops.backup.manifest import LedgerState, Source

PG_DUMP = "pg_dump"
_STALE_SNAPSHOT_S = 3600


def backend_of(url: str) -> str:
    if url.startswith("sqlite:///"):
        return "sqlite"
    if url.startswith(("postgresql://", "postgres://")):
        return "postgresql"
    raise BackupUsageError(f"unsupported database URL {url!r}: use sqlite:///PATH or postgresql://")


def sqlite_path(url: str) -> Path:
    return Path(url.removeprefix("sqlite:///"))


def redact(url: str) -> str:
    """The URL without a password (manifests and messages never carry one)."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        user = creds.split(":", 1)[0]
        return f"{scheme}://{user}@{host}"
    return url


def ledger_state(cur: Any, backend: str) -> LedgerState:
    """Height, tip, schema version and transaction high-water mark, read through a DB-API cursor
    inside the snapshot being backed up (so they describe exactly what the backup holds)."""
    cur.execute("SELECT value FROM meta WHERE key = 'schema_version'")
    row = cur.fetchone()
    if row is None:
        raise BackupError("the database has no ledger schema (meta.schema_version is missing)")
    version = int(row[0])
    cur.execute("SELECT height, hash FROM blocks ORDER BY height DESC LIMIT 1")
    tip = cur.fetchone()
    # Index lookups only: a COUNT(*) over millions of transactions would add seconds.
    cur.execute("SELECT COALESCE(SUM(tx_count), 0) FROM blocks")
    (confirmed,) = cur.fetchone()
    cur.execute(
        "SELECT seq, accepted_ms FROM transactions WHERE seq = (SELECT MAX(seq) FROM transactions)"
    )
    last = cur.fetchone()
    return LedgerState(
        backend=backend,  # type: ignore[arg-type]
        schema_version=version,
        height=int(tip[0]) if tip else -1,
        tip_hash=bytes(tip[1]).hex() if tip else "",
        confirmed=int(confirmed),
        last_seq=int(last[0]) if last else 0,
        last_accepted_ms=int(last[1]) if last else None,
    )


# -- SQLite -------------------------------------------------------------------------------------


@contextlib.contextmanager
def sqlite_scratch(url: str) -> Iterator[tuple[Path, Path, Source]]:
    """The live database's path, an empty scratch file next to it (the same trust domain and
    disk) for its copy, and the source's identity; the scratch file is removed afterwards."""
    path = sqlite_path(url)
    if not path.is_file():
        raise BackupUsageError(f"{url}: no such database file")
    _remove_stale_snapshots(path.parent)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".v11ops-snapshot-", suffix=".db")
    os.close(fd)
    scratch = Path(tmp)
    try:
        identity = Source(
            backend="sqlite", url=url, host=socket.gethostname(), identity=str(path.resolve())
        )
        yield path, scratch, identity
    finally:
        scratch.unlink(missing_ok=True)


def _remove_stale_snapshots(folder: Path) -> None:
    """Copies left by a backup that was killed (SIGKILL skips every cleanup)."""
    cutoff = time.time() - _STALE_SNAPSHOT_S
    for stale in folder.glob(".v11ops-snapshot-*.db"):
        with contextlib.suppress(OSError):
            if stale.stat().st_mtime < cutoff:
                stale.unlink()


def copy_file(path: Path, sink: IO[bytes], block: int = 4 << 20) -> None:
    with path.open("rb") as f:
        while chunk := f.read(block):
            sink.write(chunk)


# -- PostgreSQL ---------------------------------------------------------------------------------


@contextlib.contextmanager
def postgres_snapshot(url: str) -> Iterator[tuple[str, LedgerState, Source]]:
    """An exported snapshot (REPEATABLE READ): pg_dump --snapshot dumps exactly what the ledger
    state below describes. The exporting transaction stays open until the dump is done."""
    try:
        conn = psycopg.connect(url, connect_timeout=10)
    except psycopg.Error as exc:
        raise BackupError(f"cannot connect to {redact(url)}: {exc}") from None
    try:
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        conn.read_only = True
        with conn.cursor() as cur:
            cur.execute("SELECT pg_export_snapshot()")
            snapshot = str(cur.fetchone()[0])  # type: ignore[index]
            state = ledger_state(cur, "postgresql")
            cur.execute(
                "SELECT system_identifier, current_database(), inet_server_port()"
                " FROM pg_control_system()"
            )
            sysid, dbname, port = cur.fetchone()  # type: ignore[misc]
        source = Source(
            backend="postgresql",
            url=redact(url),
            host=conn.info.host,
            identity=f"system {sysid} database {dbname} port {port}",
        )
        yield snapshot, state, source
    except psycopg.Error as exc:
        raise BackupError(f"{redact(url)}: {exc}") from None
    finally:
        conn.close()


def pg_dump(url: str, snapshot: str, sink: IO[bytes]) -> None:
    """`pg_dump -Fc` (uncompressed: zstd does that) of the snapshot into `sink`."""
    argv = [PG_DUMP, "--format=custom", "--compress=0", f"--snapshot={snapshot}", f"--dbname={url}"]
    run_piped(argv, sink, f"pg_dump of {redact(url)}")


def run_piped(argv: list[str], sink: IO[bytes], what: str) -> None:
    """Run a tool and copy its stdout into `sink`; BackupError with its stderr if it fails."""
    with tempfile.TemporaryFile() as errors:
        try:
            proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=errors)
        except FileNotFoundError:
            raise BackupUsageError(f"{argv[0]} is not installed (needed for {what})") from None
        assert proc.stdout is not None
        try:
            while chunk := proc.stdout.read(1 << 20):
                sink.write(chunk)
        finally:
            code = proc.wait()
        if code != 0:
            errors.seek(0)
            detail = errors.read().decode(errors="replace").strip().splitlines()
            raise BackupError(f"{what} failed (exit {code}): {' '.join(detail[-3:])}")


def tool_version(binary: str) -> str:
    try:
        out = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return out.stdout.strip().rsplit(" ", 1)[-1] or "unknown"


# -- the application side -----------------------------------------------------------------------


@dataclass(frozen=True)
class AppSources:
    """What rebuilds the v11ops side of a lost host: the config file (with every release
    definition) and the controller's state (journal, release registry, slots, routes)."""

    config_file: Path
    state_dir: Path


APP_CONFIG = "config"
APP_STATE = "state"
_STATE_FILES = ("routes.json",)


def write_app_tar(app: AppSources, sink: IO[bytes]) -> None:
    """A tar stream: config/<name>, state/state.db (an online-backup copy), state/routes.json."""
    with tarfile.open(fileobj=sink, mode="w|") as tar:
        tar.add(app.config_file, arcname=f"{APP_CONFIG}/{app.config_file.name}")
        state_db = app.state_dir / "state.db"
        if state_db.exists():
            with sqlite_file_copy(state_db) as copy:
                tar.add(copy, arcname=f"{APP_STATE}/state.db")
        for name in _STATE_FILES:
            if (app.state_dir / name).exists():
                tar.add(app.state_dir / name, arcname=f"{APP_STATE}/{name}")


@contextlib.contextmanager
def sqlite_file_copy(path: Path) -> Iterator[Path]:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".v11ops-snapshot-", suffix=".db")
    os.close(fd)
    try:
        source = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        target = sqlite3.connect(tmp)
        try:
            source.backup(target)
        finally:
            source.close()
            target.close()
        yield Path(tmp)
    finally:
        Path(tmp).unlink(missing_ok=True)
