"""Installation parameters of the alert rules: every threshold that depends on where the node
runs, with its default. `v11ops monitoring rules render --params FILE` reads them from YAML."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

# A Prometheus duration as rule files take it: 30s, 5m, 1h, 3d.
Duration = Annotated[str, Field(pattern=r"^[0-9]+(ms|s|m|h|d|w|y)$")]
Fraction = Annotated[float, Field(gt=0, le=1)]
Positive = Annotated[float, Field(gt=0)]


class ParamsError(ValueError):
    """A parameters file (or one value in it) is wrong; the message is one line."""


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


M = TypeVar("M", bound=Model)


class RuleParams(Model):
    """Thresholds and job names of the generated rules. The defaults are what the committed rule
    files in monitoring/prometheus/rules/ are rendered with."""

    # Job names: the same as `v11ops monitor up` scrapes (the slots' job is the service's name).
    node_job: str = Field(default="aurigraph-v11-node", description="job of the node's slots")
    router_job: str = Field(default="v11ops-router", description="job of the builtin router")
    node_exporter_job: str = Field(default="node", description="job of node-exporter")

    tps_target: Positive = Field(
        default=1000.0,
        description="committed transactions per second the installation must sustain",
    )
    min_request_rate: Positive = Field(
        default=0.1, description="requests/s below which ratio and latency alerts stay quiet"
    )
    error_ratio: Fraction = Field(
        default=0.05, description="HighErrorRate: share of 5xx API answers"
    )
    response_time_p95_s: Positive = Field(
        default=0.1, description="SlowResponseTime: p95 API latency (the seed's pass criterion)"
    )
    cpu_percent: Positive = Field(default=85.0, description="HighCPUUsage: host CPU busy")
    memory_percent: Positive = Field(
        default=90.0, description="HighMemoryUsage: host memory in use"
    )
    disk_percent: Positive = Field(default=85.0, description="HighDiskUsage: filesystem space used")
    gc_time_ratio: Fraction = Field(
        default=0.05, description="HighGCTime: share of time in GC pauses"
    )
    process_cpu_cores: Positive = Field(
        default=0.9,
        description="NodeProcessCPUSaturated: CPU seconds per second of the node process",
    )
    consensus_failures_per_min: Positive = Field(
        default=5.0, description="ConsensusFailure: failed block production rounds per minute"
    )
    consensus_round_p99_s: Positive = Field(
        default=0.5, description="ConsensusLatencyHigh: p99 duration of a block production round"
    )
    auth_failures_per_s: Positive = Field(
        default=0.1,
        description="UnauthorizedAccessAttempt: requests/s with a missing or wrong API key",
    )
    signature_failures_per_s: Positive = Field(
        default=0.1,
        description="SignatureVerificationFailures: transactions/s with a bad signature",
    )
    tx_failure_ratio: Fraction = Field(
        default=0.05,
        description="HighTransactionFailureRate: share of decided transactions rejected",
    )
    db_pool_busy_ratio: Fraction = Field(
        default=0.9, description="DatabaseConnectionPoolExhausted: connections in use / pool size"
    )
    anomaly_sigma: Positive = Field(
        default=3.0, description="AnomalyDetected: standard deviations from the baseline"
    )
    anomaly_baseline: Duration = Field(default="1h", description="AnomalyDetected: baseline window")
    anomaly_min_tps: Positive = Field(
        default=1.0, description="AnomalyDetected: baseline rate below which it stays quiet"
    )
    anomaly_min_change: Fraction = Field(
        default=0.2,
        description="AnomalyDetected: smallest change, as a share of the baseline, to count",
    )
    network_bytes_per_s: Positive = Field(
        default=1e8, description="HighNetworkTraffic: bytes/s in + out (80 % of 1 Gbit/s)"
    )
    network_error_ratio: Fraction = Field(
        default=0.01, description="NetworkInterfaceErrors: share of packets with errors"
    )
    expected_validators: int = Field(
        default=1,
        ge=1,
        description="ValidatorNodeDown: nodes that share the ledger in steady state",
    )
    leader_changes_per_15m: Positive = Field(
        default=3.0, description="FrequentLeaderChanges: producer lease handovers in 15 minutes"
    )
    transaction_pool_full: Positive = Field(
        default=10_000.0, description="TransactionPoolFull: pending transactions"
    )
    low_volume_tps: Positive = Field(
        default=0.1, description="LowTransactionVolume: committed transactions/s over 30 minutes"
    )
    backup_max_age_hours: Positive = Field(
        default=2.0,
        description="BackupStale: hours since the newest complete backup (2 x backup.every)",
    )
    backup_critical_age_hours: Positive = Field(
        default=24.0, description="BackupVeryStale: the same, critical (preflight's limit)"
    )
    backup_unverified_hours: Positive = Field(
        default=26.0, description="BackupUnverified: hours since a backup passed verify or a drill"
    )
    restore_drill_max_age_days: Positive = Field(
        default=7.0, description="RestoreDrillStale: days since the last restore drill that passed"
    )
    restore_drill_max_duration_s: Positive = Field(
        default=3600.0, description="RestoreDrillTooSlow: seconds of the newest drill (the RTO)"
    )
    wal_archive_max_age_s: Positive = Field(
        default=120.0, description="WalArchiveStale: seconds since the newest archived WAL segment"
    )
    tls_expiry_warning_days: Positive = Field(
        default=30.0, description="TLSCertificateExpiringSoon: days left on a served certificate"
    )
    tls_expiry_critical_days: Positive = Field(
        default=7.0, description="TLSCertificateExpiringVerySoon: the same, critical"
    )
    runbook_base: str = Field(
        default="docs/runbook.md", description="where runbook_url points; each alert adds #its-name"
    )
    for_override: Duration | None = Field(
        default=None,
        description="replace every `for` (tests and benchmarks only; null: as designed)",
    )
    disabled_alerts: tuple[str, ...] = Field(default=(), description="alerts left out of the files")


def load_params(path: Path | None, overrides: dict[str, Any] | None = None) -> RuleParams:
    """The rule parameters: defaults, updated from a YAML file and then from `overrides`."""
    return load_model(RuleParams, path, overrides)


def load_model(model: type[M], path: Path | None, overrides: dict[str, Any] | None = None) -> M:
    """`model`'s defaults, updated from a YAML mapping of its fields, then from `overrides`
    ({"a.b": value} sets field b of field a). A nested mapping updates, never replaces."""
    data = model().model_dump(by_alias=True)
    if path is not None:
        data = _merged(data, _read_mapping(path))
    for dotted, value in (overrides or {}).items():
        *parents, leaf = dotted.split(".")
        update: dict[str, Any] = {leaf: value}
        for key in reversed(parents):
            update = {key: update}
        data = _merged(data, update)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ParamsError(f"{path or '--set'}: {first_problem(exc)}") from None


def _merged(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in update.items():
        both = isinstance(value, dict) and isinstance(out.get(key), dict)
        out[key] = _merged(out[key], value) if both else value
    return out


def first_problem(exc: ValidationError) -> str:
    """`field.path: message` of the first validation error."""
    error = exc.errors(include_url=False)[0]
    where = ".".join(str(part) for part in error["loc"])
    return f"{where}: {error['msg']}" if where else str(error["msg"])


def _read_mapping(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise ParamsError(f"{path}: cannot read ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        raise ParamsError(f"{path}: not valid YAML ({exc})".replace("\n", " ")) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ParamsError(f"{path}: expected a mapping of parameter names to values")
    return data
