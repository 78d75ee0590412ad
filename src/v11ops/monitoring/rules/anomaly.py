"""AnomalyDetected: the rate of accepted transactions far from its recent baseline.

Recording rules keep the 1-minute rate and its mean and standard deviation over the baseline
window; the alert fires when the rate is more than `anomaly_sigma` standard deviations away
(a spike or a drop). Two guards keep it honest: the baseline must carry real traffic (at a few
transactions per minute every burst is "anomalous"), and the change must be a real share of the
baseline (a perfectly steady rate has a standard deviation near zero).
"""

from __future__ import annotations

from v11ops.monitoring.rules.params import RuleParams
from v11ops.monitoring.rules.rulefile import Alert, Recording

RATE = "job:aurigraph_transactions_accepted:rate1m"


def baseline_names(p: RuleParams) -> tuple[str, str]:
    """Names of the recorded mean and standard deviation over the baseline window."""
    return f"{RATE}_avg{p.anomaly_baseline}", f"{RATE}_stddev{p.anomaly_baseline}"


def anomaly_recordings(p: RuleParams) -> list[Recording]:
    avg, stddev = baseline_names(p)
    window = p.anomaly_baseline
    return [
        Recording(
            RATE,
            f'sum by (job) (rate(aurigraph_transactions_total{{job="{p.node_job}",'
            f'status="PENDING"}}[1m]))',
            "AnomalyDetected's signal: transactions accepted per second, over 1 minute.",
        ),
        Recording(avg, f"avg_over_time({RATE}[{window}])", f"Its baseline: the {window} mean..."),
        Recording(stddev, f"stddev_over_time({RATE}[{window}])", "... and standard deviation."),
    ]


def anomaly_alert(p: RuleParams) -> Alert:
    avg, stddev = baseline_names(p)
    sigma, change, floor = f"{p.anomaly_sigma:g}", f"{p.anomaly_min_change:g}", p.anomaly_min_tps
    return Alert(
        "AnomalyDetected",
        f"abs({RATE} - {avg}) / {stddev} > {sigma}\n"
        f"and\nabs({RATE} - {avg}) > {change} * {avg}\n"
        f"and\n{avg} >= {floor:g}",
        "2m",
        "warning",
        "P1",
        "The transaction rate moved far from its recent baseline.",
        '{{ $labels.job }} accepts transactions at a rate {{ $value | printf "%.1f" }} standard '
        f"deviations away from its {p.anomaly_baseline} baseline (threshold {sigma}).",
        f"The seed's anomaly detection, for real: more than {sigma} standard deviations from "
        f"the {p.anomaly_baseline} baseline, a change of at least {float(change) * 100:g} % of "
        f"it, and only when the baseline is at least {floor:g} tx/s (low-traffic guard).",
    )
