"""Backup and disaster-recovery alerts, on the metrics `v11ops backup` commands write for
node-exporter's textfile collector (src/v11ops/backup/metrics.py, label `repo`).

Timestamps of 0 mean "never" (no complete backup, never verified, never drilled): the age is then
decades and the staleness alerts fire, which is what an installation without backups deserves.
"""

from __future__ import annotations

from v11ops.backup import metrics
from v11ops.monitoring.rules.alerts import num
from v11ops.monitoring.rules.params import RuleParams
from v11ops.monitoring.rules.rulefile import Alert, Group

REPO = "{{ $labels.repo }} on {{ $labels.instance }}"


def backup_group(p: RuleParams) -> Group:
    """The backup alerts, in a group (and file) of their own, apart from the seed's 24."""

    def sel(name: str) -> str:
        return f'{name}{{job="{p.node_exporter_job}"}}'

    def age(name: str) -> str:
        return f"time() - {sel(name)}"

    return Group(
        "aurigraph.backup",
        [
            Alert(
                "BackupStale",
                f"{age(metrics.LAST_SUCCESS)} > {num(p.backup_max_age_hours)} * 3600",
                "10m",
                "warning",
                "P1",
                "The newest complete backup is older than the backup schedule allows.",
                f"The newest complete backup in {REPO} is {{{{ $value | humanizeDuration }}}} "
                f"old (threshold {num(p.backup_max_age_hours)} h).",
                "The RPO with SQLite is the age of the newest backup; two missed runs of the "
                "default hourly schedule mean the timer or its key is broken.",
            ),
            Alert(
                "BackupVeryStale",
                f"{age(metrics.LAST_SUCCESS)} > {num(p.backup_critical_age_hours)} * 3600",
                "10m",
                "critical",
                "P0",
                "No complete backup for a day: the RPO is lost and deploys are blocked.",
                f"The newest complete backup in {REPO} is {{{{ $value | humanizeDuration }}}} "
                f"old (threshold {num(p.backup_critical_age_hours)} h).",
                "At preflight's limit (24 h) deploys stop and a disaster loses a day of "
                "transactions; it fires alongside BackupStale, which warned first.",
            ),
            Alert(
                "BackupUnverified",
                f"{age(metrics.LAST_VERIFIED)} > {num(p.backup_unverified_hours)} * 3600",
                "10m",
                "warning",
                "P1",
                "No backup has passed verify or a restore drill recently.",
                f"The last backup in {REPO} that passed `backup verify` or a drill was checked "
                f"{{{{ $value | humanizeDuration }}}} ago "
                f"(threshold {num(p.backup_unverified_hours)} h).",
                "A backup that was never read back may not restore; a daily verify plus slack "
                "keeps preflight's verified-backup check passing.",
            ),
            Alert(
                "RestoreDrillStale",
                f"{age(metrics.DRILL_LAST_SUCCESS)} > {num(p.restore_drill_max_age_days)} * 86400",
                "10m",
                "warning",
                "P1",
                "No restore drill has passed recently: the RTO is unproven.",
                f"The last restore drill of {REPO} that passed was "
                f"{{{{ $value | humanizeDuration }}}} ago "
                f"(threshold {num(p.restore_drill_max_age_days)} days).",
                "Only a drill proves that backups restore and measures the RTO; weekly at least.",
            ),
            Alert(
                "RestoreDrillTooSlow",
                f"{sel(metrics.DRILL_DURATION)} > {num(p.restore_drill_max_duration_s)}",
                "5m",
                "warning",
                "P1",
                "The newest restore drill took longer than the RTO.",
                f"The newest restore drill of {REPO} took {{{{ $value | humanizeDuration }}}} "
                f"(RTO {num(p.restore_drill_max_duration_s)} s).",
                "The drill's time is the measured RTO; above the seed's 1 h a real disaster "
                "would break the promise.",
            ),
            Alert(
                "BackupCorrupt",
                f'{metrics.COUNT}{{job="{p.node_exporter_job}",status="corrupt"}} > 0',
                "5m",
                "warning",
                "P1",
                "A backup in the repository is damaged.",
                f"{REPO} holds {{{{ $value }}}} corrupt backup(s): a file missing, resized or a "
                "manifest that fails its MAC.",
                "Damage found by list, verify or a drill; prune keeps corrupt backups for "
                "inspection, so this stays until someone looks.",
            ),
            Alert(
                "WalArchiveStale",
                f"time() - ({sel(metrics.WAL_LAST)} > 0) > {num(p.wal_archive_max_age_s)}",
                "5m",
                "critical",
                "P0",
                "PostgreSQL's WAL archiving has stopped: the RPO grows every second.",
                f"The newest WAL segment in {REPO} was archived "
                f"{{{{ $value | humanizeDuration }}}} ago "
                f"(threshold {num(p.wal_archive_max_age_s)} s).",
                "With archive_timeout 30 s a segment arrives at least every 30 s while the node "
                "heartbeats into the database, so silence means archive_command fails. Only "
                "once a segment was archived (0: none yet); absent without WAL archiving.",
            ),
            Alert(
                "BackupMetricsMissing",
                f"absent({sel(metrics.LAST_SUCCESS)})",
                "1h",
                "info",
                "P2",
                "No backup metrics reach Prometheus: the backup alerts cannot fire.",
                "No target of job {{ $labels.job }} serves "
                f"{metrics.LAST_SUCCESS} (absent: {{{{ $value }}}}): no backup command wrote "
                "into node-exporter's textfile folder, or node-exporter runs without it.",
                "The other backup alerts are silent without their metrics; an hour covers a "
                "freshly installed host before its first scheduled backup.",
            ),
        ],
    )
