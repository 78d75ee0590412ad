"""Security: the dashboard the seed only planned (authentication failures, anomalies, crypto
latency), on the node's API guard and signature verification counters."""

from __future__ import annotations

from grafana_foundation_sdk.builders.dashboard import Dashboard

from v11ops.monitoring.dashboards._panels import (
    NODE,
    RATE,
    Query,
    big_number,
    dashboard,
    dashed_series,
    graph,
    node_variables,
    quantiles,
)
from v11ops.monitoring.rules.params import RuleParams

UID = "v11-security"

_SUBMIT = f'{NODE}, method="POST", uri="/api/v11/transactions"'
# AnomalyDetected's signal (accepted transactions per second over 1 minute) and its baseline:
# outside mean ± sigma standard deviations the alert calls the rate anomalous.
_RULES = RuleParams()
_TX_RATE = f'sum(rate(aurigraph_transactions_total{{{NODE}, status="PENDING"}}[1m]))'
_MEAN = f"avg_over_time({_TX_RATE}[{_RULES.anomaly_baseline}:])"
_STDDEV = f"stddev_over_time({_TX_RATE}[{_RULES.anomaly_baseline}:])"
_SIGMA = f"{_RULES.anomaly_sigma:g}"


def _in_range(metric: str) -> Query:
    return Query(f"sum(increase({metric}{{{NODE}}}[$__range]))", "total")


def build() -> Dashboard:
    anomaly = graph(
        "Transaction rate anomaly band",
        "Transactions accepted per second (over 1 minute) against their baseline over the "
        f"last {_RULES.anomaly_baseline}: mean ± {_SIGMA} standard deviations (dashed). Outside "
        "the band for 2 minutes, on enough traffic, AnomalyDetected fires.",
        [
            Query(_TX_RATE, "accepted/s"),
            Query(f"{_MEAN} + {_SIGMA} * {_STDDEV}", "upper bound"),
            Query(f"clamp_min({_MEAN} - {_SIGMA} * {_STDDEV}, 0)", "lower bound"),
        ],
        "short",
    )
    dashed_series(anomaly, "upper bound", "orange")
    dashed_series(anomaly, "lower bound", "orange")
    return dashboard(
        UID,
        "Aurigraph V11 / Security",
        "Who is refused and why: API keys, rate limits, bad signatures, and traffic that "
        "leaves its usual band.",
        node_variables(),
        [
            big_number(
                "Authentication failures",
                "Requests with a missing or wrong API key (X-API-Key) or admin key in the "
                "selected time range (aurigraph_auth_failures_total).",
                [_in_range("aurigraph_auth_failures_total")],
                "none",
                steps=((None, "green"), (1, "orange"), (100, "red")),
            ),
            big_number(
                "Invalid signatures",
                "Submitted transactions whose Ed25519 signature did not verify, in the selected "
                "time range (aurigraph_crypto_signature_verification_failures_total).",
                [_in_range("aurigraph_crypto_signature_verification_failures_total")],
                "none",
                steps=((None, "green"), (1, "orange"), (100, "red")),
            ),
            big_number(
                "Rate-limited requests",
                "Requests refused with 429 by the per-client rate limit in the selected time "
                "range (aurigraph_api_rate_limited_total).",
                [_in_range("aurigraph_api_rate_limited_total")],
                "none",
                steps=((None, "green"), (1, "orange")),
            ),
            big_number(
                "Authenticated requests",
                "Requests that presented a valid API key in the selected time range "
                "(aurigraph_auth_success_total; 0 where no API keys are configured).",
                [_in_range("aurigraph_auth_success_total")],
                "none",
            ),
            graph(
                "Authentication",
                "Failed and successful API key checks per second. UnauthorizedAccessAttempt "
                "fires on a sustained failure rate.",
                [
                    Query(f"sum(rate(aurigraph_auth_failures_total{{{NODE}}}[{RATE}]))", "failed"),
                    Query(
                        f"sum(rate(aurigraph_auth_success_total{{{NODE}}}[{RATE}]))", "succeeded"
                    ),
                ],
                "reqps",
            ),
            graph(
                "Refused requests",
                "Requests answered 4xx per second, by status: 400 (malformed or bad signature), "
                "401 (no valid key), 403, 413, 429.",
                [
                    Query(
                        "sum by (status) (rate(http_server_requests_seconds_count"
                        f'{{{NODE}, status=~"4.."}}[{RATE}]))',
                        "{{status}}",
                    )
                ],
                "reqps",
                stacked=True,
            ),
            graph(
                "Signature failures and rate limiting",
                "Transactions refused for an invalid signature (SignatureVerificationFailures "
                "watches them), and requests refused by the rate limit, per second.",
                [
                    Query(
                        "sum(rate(aurigraph_crypto_signature_verification_failures_total"
                        f"{{{NODE}}}[{RATE}]))",
                        "invalid signatures",
                    ),
                    Query(
                        f"sum(rate(aurigraph_api_rate_limited_total{{{NODE}}}[{RATE}]))",
                        "rate-limited",
                    ),
                ],
                "short",
            ),
            anomaly,
            graph(
                "Transaction submission latency (crypto)",
                "The seed's 'crypto latency'. The node does not time signature checks alone; "
                "POST /api/v11/transactions is dominated by them (Ed25519 verification in "
                "worker processes, then one durable insert), so its latency p50 / p95 / p99 "
                "is the closest measure.",
                quantiles("http_server_requests_seconds", _SUBMIT),
                "s",
                width=24,
            ),
        ],
    )
