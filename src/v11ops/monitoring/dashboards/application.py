"""Application Metrics: the seed's second operational dashboard (TPS against its target, request
rate, error and success rate, response time percentiles, status codes, active requests,
database time, transaction latency; 10 panels)."""

from __future__ import annotations

from grafana_foundation_sdk.builders.dashboard import Dashboard, TextBoxVariable

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
from v11ops.monitoring.rules.alerts import API
from v11ops.monitoring.rules.params import RuleParams

UID = "v11-application"
# The default of the dashboard variable `tps_target`: the TPSBelowTarget rule's parameter.
TPS_TARGET = RuleParams().tps_target

_HTTP = "http_server_requests_seconds"
# Client API requests (no health checks or scrapes), as the alert rules and the SLOs count them.
_API = f"{NODE}, {API}"


def _share(statuses: str, what: str) -> Query:
    """Fraction of the API requests whose status matches `statuses` (0 when none do)."""
    part = f'sum(rate({_HTTP}_count{{{_API}, status=~"{statuses}"}}[{RATE}]))'
    whole = f"sum(rate({_HTTP}_count{{{_API}}}[{RATE}]))"
    return Query(f"({part} or vector(0)) / {whole}", what)


def build() -> Dashboard:
    tps = graph(
        "Transactions per second vs. target",
        "Transactions confirmed in blocks per second (aurigraph_transactions_processed_total), "
        "against the installation's target (dashboard variable tps_target, dashed). "
        "TPSBelowTarget fires after 5 minutes below the target.",
        [
            Query(
                f"sum(rate(aurigraph_transactions_processed_total{{{NODE}}}[{RATE}]))",
                "confirmed TPS",
            ),
            Query("vector($tps_target)", "target"),
        ],
        "short",
    )
    return dashboard(
        UID,
        "Aurigraph V11 / Application Metrics",
        "Throughput, errors and latency of the node API and of the ledger behind it.",
        [
            *node_variables(),
            TextBoxVariable("tps_target").label("TPS target").default_value(f"{TPS_TARGET:g}"),
        ],
        [
            dashed_series(tps, "target", "red"),
            graph(
                "Request rate",
                "HTTP requests per second answered by the nodes, by method and route template "
                "(http_server_requests_seconds_count).",
                [
                    Query(
                        f"sum by (method, uri) (rate({_HTTP}_count{{{NODE}}}[{RATE}]))",
                        "{{method}} {{uri}}",
                    )
                ],
                "reqps",
            ),
            big_number(
                "Error rate",
                "Share of API requests (health checks and scrapes excluded) answered with a 5xx "
                "status over the rate window. The seed's pass criterion after a switch: below "
                "0.1 %. HighErrorRate watches it.",
                [_share("5..", "errors")],
                "percentunit",
                steps=((None, "green"), (0.001, "orange"), (0.01, "red")),
            ),
            big_number(
                "Success rate",
                "Share of API requests answered with 2xx or 3xx (4xx are the clients' mistakes "
                "and 5xx the node's, so the two rates need not add up to 100 %).",
                [_share("[23]..", "success")],
                "percentunit",
                steps=((None, "red"), (0.99, "orange"), (0.999, "green")),
            ),
            graph(
                "Response time p50 / p95 / p99",
                "Latency of the API requests (health checks and scrapes excluded) from the "
                "node's request histogram. The seed's pass criterion: p95 below 100 ms "
                "(SlowResponseTime).",
                quantiles(_HTTP, _API),
                "s",
            ),
            graph(
                "HTTP status codes",
                "Requests per second by status code, stacked.",
                [
                    Query(
                        f"sum by (status) (rate({_HTTP}_count{{{NODE}}}[{RATE}]))",
                        "{{status}}",
                    )
                ],
                "reqps",
                stacked=True,
            ),
            graph(
                "Active requests",
                "Requests in flight. The node does not count them; the builtin router in front "
                "of it does, per upstream target (v11ops_router_in_flight).",
                [Query("sum by (target) (v11ops_router_in_flight)", "{{target}}")],
                "short",
            ),
            graph(
                "Database time (block round)",
                "The seed's 'DB query time'. The node does not time single queries; a block "
                "production round reads the pending transactions and accounts and writes the "
                "block, statuses and balances in one database transaction, so its duration "
                "(aurigraph_consensus_round_duration_seconds) is the database time per block.",
                quantiles("aurigraph_consensus_round_duration_seconds", NODE, qs=(0.5, 0.95)),
                "s",
            ),
            graph(
                "Database connections",
                "Connections of the node's database pool by state, and the pool's limit. "
                "DatabaseConnectionPoolExhausted fires when active stays at the limit.",
                [
                    Query(f"sum by (state) (aurigraph_db_pool_connections{{{NODE}}})", "{{state}}"),
                    Query(f"sum(aurigraph_db_pool_max{{{NODE}}})", "limit"),
                ],
                "short",
            ),
            graph(
                "Transaction latency",
                "Time from a transaction's acceptance (202) to its commit in a block, p50 / p95 "
                "/ p99 (aurigraph_transaction_duration_seconds).",
                quantiles("aurigraph_transaction_duration_seconds", NODE),
                "s",
            ),
        ],
    )
