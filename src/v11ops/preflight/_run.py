"""The pre-deployment checklist: every check in order, one report."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from v11ops.config import Config
from v11ops.preflight._backups import (
    MAX_BACKUP_AGE,
    configured_repo,
    judge_backups,
    read_backup_repo,
)
from v11ops.preflight._deploy_lock import judge_deploy_lock
from v11ops.preflight._disk import DiskThresholds, judge_disk
from v11ops.preflight._gate import GATE_REPORT_PATH, judge_gate
from v11ops.preflight._monitoring import judge_prometheus
from v11ops.preflight._release import judge_release
from v11ops.preflight._tls import MIN_CERTIFICATE_DAYS, judge_certificates
from v11ops.preflight._verdict import Status, Verdict, skipped


@dataclass(frozen=True)
class PreflightOptions:
    """What to check against; the defaults are the seed's checklist."""

    version: str | None = None
    gate_report: Path = GATE_REPORT_PATH
    skip_gate: bool = False
    tls_certs: tuple[Path, ...] = ()
    prometheus_url: str | None = None
    disk: DiskThresholds = field(default_factory=DiskThresholds)
    max_backup_age: timedelta = MAX_BACKUP_AGE
    min_certificate_days: float = MIN_CERTIFICATE_DAYS
    now: datetime | None = None  # tests pin the clock; None: the current time


@dataclass(frozen=True)
class CheckResult:
    """One row of the checklist."""

    name: str
    title: str
    status: Status
    reason: str
    details: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "title": self.title,
            "status": str(self.status),
            "reason": self.reason,
            "details": dict(self.details),
        }


@dataclass(frozen=True)
class PreflightReport:
    """Every check's result; `ok` unless one failed (skips do not fail)."""

    config: str
    version: str | None
    checked_at: datetime
    checks: tuple[CheckResult, ...]

    @property
    def ok(self) -> bool:
        return all(check.status != Status.FAIL for check in self.checks)

    def count(self, status: Status) -> int:
        return sum(1 for check in self.checks if check.status == status)

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "config": self.config,
            "version": self.version,
            "checked_at": self.checked_at.isoformat(),
            "counts": {str(s): self.count(s) for s in Status},
            "checks": [check.to_json() for check in self.checks],
        }


Judge = Callable[[Config, PreflightOptions, datetime], Verdict]


def _gate(config: Config, options: PreflightOptions, now: datetime) -> Verdict:
    if options.skip_gate:
        return skipped("skipped by --skip-gate", path=str(options.gate_report))
    return judge_gate(options.gate_report, options.version, now)


def _backup(config: Config, options: PreflightOptions, now: datetime) -> Verdict:
    catalog = read_backup_repo(configured_repo(config))
    return judge_backups(catalog, now, options.max_backup_age)


def _tls(config: Config, options: PreflightOptions, now: datetime) -> Verdict:
    served = config.router.tls.files(config.config_dir)
    configured = (served.cert,) if served is not None else ()
    certs = tuple(dict.fromkeys((*configured, *options.tls_certs)))  # once each, in order
    return judge_certificates(certs, now, options.min_certificate_days)


def _monitoring(config: Config, options: PreflightOptions, now: datetime) -> Verdict:
    return judge_prometheus(options.prometheus_url)


def _disk(config: Config, options: PreflightOptions, now: datetime) -> Verdict:
    return judge_disk(config.state_path, options.disk)


def _release(config: Config, options: PreflightOptions, now: datetime) -> Verdict:
    return judge_release(config, options.version)


def _deploy_lock(config: Config, options: PreflightOptions, now: datetime) -> Verdict:
    return judge_deploy_lock(config)


# The seed runbook's pre-deployment checklist, in its order: (name, title, judge).
CHECKS: tuple[tuple[str, str, Judge], ...] = (
    ("gate", "tests and gate passed", _gate),
    ("backup", "recent verified backup", _backup),
    ("tls", "TLS certificates", _tls),
    ("monitoring", "monitoring healthy", _monitoring),
    ("disk", "disk space", _disk),
    ("release", "release registered", _release),
    ("deploy_lock", "no deploy in progress", _deploy_lock),
)


def run_preflight(config: Config, options: PreflightOptions) -> PreflightReport:
    """Run every check. A check never raises for what it finds: it reports FAIL instead."""
    now = options.now or datetime.now(UTC)
    results = []
    for name, title, judge in CHECKS:
        verdict = judge(config, options, now)
        results.append(CheckResult(name, title, verdict.status, verdict.reason, verdict.details))
    return PreflightReport(
        config=str(config.source or ""),
        version=options.version,
        checked_at=now,
        checks=tuple(results),
    )
