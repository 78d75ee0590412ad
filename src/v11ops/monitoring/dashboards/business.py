"""Business: the dashboard the seed only planned (volume, value, users): confirmed transactions,
the value they moved and the distinct accounts that sent them."""

from __future__ import annotations

from grafana_foundation_sdk.builders.dashboard import Dashboard

from v11ops.monitoring.dashboards._panels import (
    NODE,
    RATE,
    Query,
    big_number,
    dashboard,
    graph,
    node_variables,
)

UID = "v11-business"

_PROCESSED = f"aurigraph_transactions_processed_total{{{NODE}}}"
_VALUE = f"aurigraph_value_transferred_total{{{NODE}}}"
# Only the block producer counts active accounts; max() keeps the producer's figure.
_ACTIVE = f"max(aurigraph_accounts_active{{{NODE}}})"


def build() -> Dashboard:
    return dashboard(
        UID,
        "Aurigraph V11 / Business",
        "What the ledger is used for: how many transfers, how much value, how many accounts. "
        "Counted by the block producer when it confirms transactions.",
        node_variables(),
        [
            big_number(
                "Transaction volume",
                "Transactions confirmed in the selected time range "
                "(aurigraph_transactions_processed_total).",
                [Query(f"sum(increase({_PROCESSED}[$__range]))", "transactions")],
                "short",
            ),
            big_number(
                "Value transferred",
                "Sum of the amounts of the transactions confirmed in the selected time range "
                "(aurigraph_value_transferred_total), in the ledger's base unit.",
                [Query(f"sum(increase({_VALUE}[$__range]))", "value")],
                "short",
            ),
            big_number(
                "Active accounts (5 min)",
                "Distinct accounts that sent a confirmed transaction in the last 5 minutes "
                "(aurigraph_accounts_active, kept by the block producer; the seed's 'users').",
                [Query(_ACTIVE, "accounts")],
                "short",
            ),
            big_number(
                "Average transaction value",
                "Value transferred divided by transactions confirmed over the rate window.",
                [
                    Query(
                        f"sum(rate({_VALUE}[{RATE}])) / sum(rate({_PROCESSED}[{RATE}]))",
                        "value/transaction",
                    )
                ],
                "short",
            ),
            graph(
                "Transactions per minute",
                "Confirmed transactions per minute. LowTransactionVolume fires when it stays low "
                "for 30 minutes.",
                [Query(f"sum(rate({_PROCESSED}[{RATE}])) * 60", "transactions/min")],
                "short",
            ),
            graph(
                "Value transferred per minute",
                "Sum of confirmed amounts per minute.",
                [Query(f"sum(rate({_VALUE}[{RATE}])) * 60", "value/min")],
                "short",
            ),
            graph(
                "Transaction outcomes",
                "Transactions per second by outcome: PENDING counts acceptances (202), "
                "CONFIRMED and REJECTED the producer's decisions (aurigraph_transactions_total). "
                "HighTransactionFailureRate watches the rejected share.",
                [
                    Query(
                        f"sum by (status) (rate(aurigraph_transactions_total{{{NODE}}}[{RATE}]))",
                        "{{status}}",
                    )
                ],
                "short",
            ),
            graph(
                "Active accounts",
                "Distinct senders in the last 5 minutes, over time.",
                [Query(_ACTIVE, "accounts")],
                "short",
            ),
        ],
    )
