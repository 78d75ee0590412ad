"""`v11ops preflight`: the seed's pre-deployment checklist as a command.

report = run_preflight(config, PreflightOptions(version="1.1.0"))
report.ok, report.checks, report.to_json()

It also defines the two files other parts of the pipeline write and preflight reads: the gate
report (`reports/gate.json`, written by `nox -s gate`) and the backup manifests
(`{state_dir}/backups/<id>/manifest.json`, written by the backup system).
"""

from v11ops.preflight._backups import (
    BACKUP_MANIFEST_SCHEMA,
    BACKUPS_DIRNAME,
    MANIFEST_NAME,
    BackupCatalog,
    BackupManifest,
    backups_folder,
    judge_backups,
    read_backup_catalog,
    write_backup_manifest,
)
from v11ops.preflight._deploy_lock import judge_deploy_lock
from v11ops.preflight._disk import GIB, DiskThresholds, DiskUsage, judge_disk
from v11ops.preflight._gate import (
    GATE_REPORT_ENV,
    GATE_REPORT_PATH,
    GATE_REPORT_SCHEMA,
    GateCheck,
    GateReport,
    GateReportError,
    judge_gate,
    read_gate_report,
    write_gate_report,
)
from v11ops.preflight._monitoring import PROMETHEUS_URL_ENV, judge_prometheus
from v11ops.preflight._release import judge_release
from v11ops.preflight._run import (
    CHECKS,
    CheckResult,
    PreflightOptions,
    PreflightReport,
    run_preflight,
)
from v11ops.preflight._tls import (
    MIN_CERTIFICATE_DAYS,
    CertificateError,
    CertificateValidity,
    certificate_validity,
    judge_certificate,
    judge_certificates,
)
from v11ops.preflight._verdict import Status, Verdict

__all__ = [
    "BACKUPS_DIRNAME",
    "BACKUP_MANIFEST_SCHEMA",
    "CHECKS",
    "GATE_REPORT_ENV",
    "GATE_REPORT_PATH",
    "GATE_REPORT_SCHEMA",
    "GIB",
    "MANIFEST_NAME",
    "MIN_CERTIFICATE_DAYS",
    "PROMETHEUS_URL_ENV",
    "BackupCatalog",
    "BackupManifest",
    "CertificateError",
    "CertificateValidity",
    "CheckResult",
    "DiskThresholds",
    "DiskUsage",
    "GateCheck",
    "GateReport",
    "GateReportError",
    "PreflightOptions",
    "PreflightReport",
    "Status",
    "Verdict",
    "backups_folder",
    "certificate_validity",
    "judge_backups",
    "judge_certificate",
    "judge_certificates",
    "judge_deploy_lock",
    "judge_disk",
    "judge_gate",
    "judge_prometheus",
    "judge_release",
    "read_backup_catalog",
    "read_gate_report",
    "run_preflight",
    "write_backup_manifest",
    "write_gate_report",
]
