"""Backup metrics for node-exporter's textfile collector.

Backups run as short commands (and from PostgreSQL's archive_command), which Prometheus cannot
scrape. Each command rewrites one `.prom` file per repository in the textfile directory, from
the repository's manifests (so the file always describes the repository as it is); node-exporter
started with `--collector.textfile.directory=DIR` serves it. The write is atomic (temp + rename).
"""

from __future__ import annotations

import hashlib
from collections import Counter
from pathlib import Path

from prometheus_client import CollectorRegistry, Gauge, write_to_textfile

from v11ops.backup.manifest import WAL_DIR, Entry, Manifest, Status, scan

LAST_SUCCESS = "v11ops_backup_last_success_timestamp_seconds"
LAST_VERIFIED = "v11ops_backup_last_verified_timestamp_seconds"
DRILL_DURATION = "v11ops_restore_drill_duration_seconds"
DRILL_LAST_SUCCESS = "v11ops_restore_drill_last_success_timestamp_seconds"
SIZE = "v11ops_backup_size_bytes"
COUNT = "v11ops_backup_count"
WAL_LAST = "v11ops_wal_archive_last_success_timestamp_seconds"


def metrics_file(metrics_dir: Path, repo: Path) -> Path:
    digest = hashlib.sha256(str(repo.resolve()).encode()).hexdigest()[:12]
    return metrics_dir / f"v11ops_backup_{digest}.prom"


def write_metrics(
    repo: Path, metrics_dir: Path | None, entries: list[Entry] | None = None
) -> Path | None:
    """Rewrite the repository's `.prom` file; None when no textfile directory is configured."""
    if metrics_dir is None:
        return None
    entries = scan(repo) if entries is None else entries
    registry = CollectorRegistry()
    label = str(repo.resolve())

    def gauge(name: str, doc: str, *extra: str) -> Gauge:
        return Gauge(name, doc, ["repo", *extra], registry=registry)

    complete = [e.manifest for e in entries if e.usable and e.manifest is not None]
    newest = max(complete, key=lambda m: m.created_at, default=None)
    gauge(
        LAST_SUCCESS, "Snapshot time of the newest complete backup (its recovery point); 0: none."
    ).labels(label).set(newest.created_at.timestamp() if newest else 0)
    gauge(SIZE, "Stored size of the newest complete backup.").labels(label).set(
        newest.size_bytes if newest else 0
    )
    gauge(
        LAST_VERIFIED, "Newest time a backup passed `backup verify` or a restore drill; 0: never."
    ).labels(label).set(max((_verified(m) for m in complete), default=0.0))
    drills = sorted((d for m in complete for d in m.drills), key=lambda d: d.at)
    if drills:
        gauge(
            DRILL_DURATION,
            "Restore plus chain verification time of the newest restore drill (a measured RTO).",
        ).labels(label).set(drills[-1].duration_s)
    gauge(DRILL_LAST_SUCCESS, "Time of the newest restore drill that passed; 0: never.").labels(
        label
    ).set(max((d.at.timestamp() for d in drills if d.ok), default=0.0))
    counts = Counter(e.status for e in entries)
    count = gauge(COUNT, "Backups in the repository by status.", "status")
    for status in Status:
        count.labels(label, str(status)).set(counts.get(status, 0))
    wal = repo / WAL_DIR
    if wal.is_dir():
        newest_wal = max(
            (p.stat().st_mtime for p in wal.iterdir() if not p.name.startswith(".")), default=0.0
        )
        gauge(WAL_LAST, "Time the newest WAL segment was archived; 0: none yet.").labels(label).set(
            newest_wal
        )
    metrics_dir.mkdir(parents=True, exist_ok=True)
    path = metrics_file(metrics_dir, repo)
    write_to_textfile(str(path), registry)
    return path


def _verified(m: Manifest) -> float:
    times = [t.timestamp() for t in (m.checked_at, m.verified_at) if t is not None]
    return max(times, default=0.0)
