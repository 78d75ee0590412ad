"""Retention: which backups `prune` keeps. Pure functions; the caller deletes.

Keep the last N; then, going back in time, the newest backup of each of the last D days, W ISO
weeks and M months that have a backup (grandfather-father-son, as restic and pgBackRest count
them); and always the newest backup that passed a restore drill, so pruning can never remove the
last backup proven to restore.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime


@dataclass(frozen=True)
class RetentionPolicy:
    keep_last: int = 7
    keep_daily: int = 7
    keep_weekly: int = 4
    keep_monthly: int = 6


@dataclass(frozen=True)
class Candidate:
    id: str
    created_at: datetime
    drilled: bool  # a restore drill of it passed


@dataclass(frozen=True)
class RetentionPlan:
    keep: dict[str, list[str]]  # id -> why it is kept
    delete: list[str]


_BUCKETS: tuple[tuple[str, Callable[[datetime], object]], ...] = (
    ("daily", lambda t: t.date()),
    ("weekly", lambda t: t.isocalendar()[:2]),
    ("monthly", lambda t: (t.year, t.month)),
)


def plan_retention(backups: Sequence[Candidate], policy: RetentionPolicy) -> RetentionPlan:
    newest_first = sorted(backups, key=lambda b: (b.created_at, b.id), reverse=True)
    keep: dict[str, list[str]] = {}
    for b in newest_first[: policy.keep_last]:
        keep.setdefault(b.id, []).append("last")
    counts = {
        "daily": policy.keep_daily,
        "weekly": policy.keep_weekly,
        "monthly": policy.keep_monthly,
    }
    for name, bucket_of in _BUCKETS:
        seen: set[object] = set()
        for b in newest_first:
            bucket = bucket_of(b.created_at.astimezone(UTC))
            if bucket in seen:
                continue
            if len(seen) >= counts[name]:
                break
            seen.add(bucket)
            keep.setdefault(b.id, []).append(name)
    drilled = next((b for b in newest_first if b.drilled), None)
    if drilled is not None:
        keep.setdefault(drilled.id, []).append("newest drilled")
    delete = [b.id for b in reversed(newest_first) if b.id not in keep]
    return RetentionPlan(keep, delete)
