"""`v11ops backup prune`: apply the retention policy, remove unfinished backups and the WAL no
kept base backup needs."""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from v11ops.backup.keys import BackupKey
from v11ops.backup.manifest import Entry, Status, repo_lock, scan
from v11ops.backup.pitr import wal_segments_before
from v11ops.backup.retention import Candidate, RetentionPolicy, plan_retention


@dataclass
class PruneReport:
    kept: dict[str, list[str]] = field(default_factory=dict)
    deleted: list[str] = field(default_factory=list)
    unfinished: list[str] = field(default_factory=list)
    corrupt: list[str] = field(default_factory=list)
    wal_deleted: int = 0

    def to_json(self) -> dict[str, object]:
        return {
            "kept": self.kept,
            "deleted": self.deleted,
            "unfinished": self.unfinished,
            "corrupt": self.corrupt,
            "walDeleted": self.wal_deleted,
        }


def prune(
    repo: Path, policy: RetentionPolicy, key: BackupKey | None = None, dry_run: bool = False
) -> PruneReport:
    """Retention per kind (logical, pg_base). Under the repository lock no backup is being
    written, so a folder without a manifest is a dead one. Corrupt backups (with the key: also
    those whose manifest fails its MAC) are kept and listed: evidence is never deleted."""
    report = PruneReport()
    with repo_lock(repo):
        entries = scan(repo, key)
        for kind in ("logical", "pg_base"):
            usable = [e for e in entries if e.usable and _kind(e) == kind]
            plan = plan_retention([_candidate(e) for e in usable], policy)
            report.kept |= plan.keep
            report.deleted += plan.delete
            if kind == "pg_base":
                report.wal_deleted = _prune_wal(
                    repo, [e for e in usable if e.id in plan.keep], dry_run
                )
        report.unfinished = [e.id for e in entries if e.status == Status.INCOMPLETE]
        report.corrupt = [e.id for e in entries if e.status == Status.CORRUPT]
        if not dry_run:
            for backup_id in report.deleted + report.unfinished:
                shutil.rmtree(repo / backup_id)
    return report


def _kind(entry: Entry) -> str:
    assert entry.manifest is not None
    return entry.manifest.kind


def _candidate(entry: Entry) -> Candidate:
    assert entry.manifest is not None
    return Candidate(entry.id, entry.manifest.created_at, entry.manifest.verified)


def _prune_wal(repo: Path, kept_bases: Sequence[Entry], dry_run: bool) -> int:
    starts = [e.manifest.wal_start for e in kept_bases if e.manifest and e.manifest.wal_start]
    if not starts:
        return 0  # no base backup to anchor the archive: keep all of it
    old = wal_segments_before(repo, min(starts, key=lambda s: s[8:24]))
    if not dry_run:
        for path in old:
            path.unlink()
    return len(old)
