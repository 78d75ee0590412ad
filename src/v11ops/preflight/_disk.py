"""Disk space on the state directory's filesystem: the journal, logs and SQLite live there."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from v11ops.preflight._verdict import Verdict, failing, passing

GIB = 1024**3


class DiskUsage(NamedTuple):
    """Total and free bytes (free as an unprivileged process may use them)."""

    total: int
    used: int
    free: int


@dataclass(frozen=True)
class DiskThresholds:
    """Both must hold: at least `min_free_bytes` free and at least `min_free_ratio` of the disk."""

    min_free_bytes: int = GIB
    min_free_ratio: float = 0.10


def _existing(path: Path) -> Path:
    # Before the first `v11ops up` the state dir does not exist; its filesystem is its parent's.
    for candidate in (path, *path.parents):
        if candidate.exists():
            return candidate
    return path


def judge_disk(
    path: Path,
    thresholds: DiskThresholds,
    usage: Callable[[Path], DiskUsage] = lambda p: DiskUsage(*shutil.disk_usage(p)),
) -> Verdict:
    """PASS when the filesystem holding `path` has enough free space by both thresholds."""
    measured_at = _existing(path)
    try:
        disk = usage(measured_at)
    except OSError as exc:
        return failing(f"cannot measure free space at {measured_at}: {exc.strerror or exc}")
    ratio = disk.free / disk.total if disk.total else 0.0
    details = {
        "path": str(measured_at),
        "free_bytes": disk.free,
        "total_bytes": disk.total,
        "free_ratio": round(ratio, 4),
        "min_free_bytes": thresholds.min_free_bytes,
        "min_free_ratio": thresholds.min_free_ratio,
    }
    have = f"{disk.free / GIB:.1f} GiB ({ratio:.0%}) free at {measured_at}"
    want = f"{thresholds.min_free_bytes / GIB:g} GiB and {thresholds.min_free_ratio:.0%}"
    if disk.free < thresholds.min_free_bytes or ratio < thresholds.min_free_ratio:
        return failing(f"only {have}; want at least {want}", **details)
    return passing(have, **details)
