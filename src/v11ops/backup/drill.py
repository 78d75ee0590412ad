"""`v11ops backup drill`: restore the newest backup into a scratch database, verify the chain and
balances, compare height and tip hash with the manifest, and time it: a measured RTO."""

from __future__ import annotations

import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from v11ops.backup.errors import BackupError, BackupUsageError
from v11ops.backup.keys import BackupKey
from v11ops.backup.manifest import Drill, Manifest, amend_manifest, pick, scan
from v11ops.backup.restore import (
    RestoreReport,
    admin_url,
    drop_database,
    manifest_of,
    restore_ledger,
    with_database,
)


@dataclass(frozen=True)
class DrillReport:
    backup_id: str
    ok: bool
    duration_s: float
    restore: RestoreReport | None
    problem: str | None
    signatures: bool = False

    def to_json(self) -> dict[str, object]:
        return {
            "backup": self.backup_id,
            "ok": self.ok,
            "rtoSeconds": round(self.duration_s, 3),
            "problem": self.problem,
            "signatures": self.signatures,
            "restore": self.restore.to_json() if self.restore else None,
        }


def run_drill(
    repo: Path,
    key: BackupKey | None,
    backup_id: str | None = None,
    scratch_dir: Path | None = None,
    pg_admin_url: str | None = None,
    signatures: bool = False,
) -> DrillReport:
    """Drill one backup (default: the newest logical one) and record the result in its manifest.

    The chain check recomputes every block hash, merkle root and balance and compares height and
    tip hash with the manifest; Ed25519 signatures only with `signatures` (they take most of the
    time, and the backup's authenticated encryption already proves the bytes are the ones that
    were backed up from a ledger whose node verified every signature on arrival).

    SQLite: the scratch database is a file in a temporary folder (in `scratch_dir`). PostgreSQL: a
    database `v11ops_drill_<random>` created on `pg_admin_url`'s server and dropped afterwards.
    """
    entry = pick(scan(repo, key), backup_id, kind="logical")
    manifest = manifest_of(entry)
    assert manifest.ledger is not None
    started = time.perf_counter()
    report: RestoreReport | None = None
    problem: str | None
    try:
        if manifest.ledger.backend == "sqlite":
            with tempfile.TemporaryDirectory(dir=scratch_dir, prefix="v11ops-drill-") as tmp:
                url = f"sqlite:///{tmp}/ledger.db"
                report = restore_ledger(entry, key, url, False, signatures)
        else:
            if pg_admin_url is None:
                raise BackupUsageError(
                    "a PostgreSQL drill needs a server for its scratch database:"
                    " --scratch-url or backup.scratch_url"
                )
            target = with_database(admin_url(pg_admin_url), f"v11ops_drill_{uuid.uuid4().hex[:12]}")
            try:
                report = restore_ledger(entry, key, target, False, signatures)
            finally:
                drop_database(target)
        problem = report.problem
    except BackupUsageError:
        raise
    except BackupError as exc:
        problem = str(exc)
    duration = time.perf_counter() - started
    _record(repo, entry.id, key, manifest, report, problem, duration, signatures)
    return DrillReport(entry.id, problem is None, duration, report, problem, signatures)


def _record(
    repo: Path,
    backup_id: str,
    key: BackupKey | None,
    manifest: Manifest,
    report: RestoreReport | None,
    problem: str | None,
    duration: float,
    signatures: bool,
) -> None:
    now = datetime.now(UTC)
    drill = Drill(
        at=now,
        ok=problem is None,
        duration_s=round(duration, 3),
        height=report.chain.height if report else None,
        tip_hash=report.chain.tip_hash if report else None,
        problem=problem,
        signatures=signatures,
    )

    def change(m: Manifest) -> Manifest:
        update: dict[str, object] = {"drills": [*m.drills, drill][-20:]}
        if drill.ok:
            update |= {"verified": True, "verified_at": now}
        return m.model_copy(update=update)

    amend_manifest(repo, backup_id, key if manifest.encrypted else None, change)
