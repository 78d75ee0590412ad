"""Blockchain: the dashboard the seed only planned (block height, validators, consensus rounds,
transaction pool), on the node's ledger and producer-lease metrics."""

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
    quantiles,
)

UID = "v11-blockchain"


def build() -> Dashboard:
    return dashboard(
        UID,
        "Aurigraph V11 / Blockchain",
        "Blocks, the block producer (HyperRAFT++ here is a fenced producer lease), validators "
        "and the pending transaction pool.",
        node_variables(),
        [
            big_number(
                "Block height",
                "Height of the chain tip (aurigraph_block_height, highest over the nodes).",
                [Query(f"max(aurigraph_block_height{{{NODE}}})", "height")],
                "none",
            ),
            big_number(
                "Active validators",
                "Nodes that sent a heartbeat recently, as each node sees them "
                "(aurigraph_validators_active). ValidatorNodeDown fires when it drops.",
                [Query(f"max(aurigraph_validators_active{{{NODE}}})", "validators")],
                "none",
                steps=((None, "red"), (1, "green")),
            ),
            big_number(
                "Block producer",
                "1 on the node that holds the producer lease (the Raft leader's role); exactly "
                "one node should show 1.",
                [Query(f"aurigraph_consensus_is_leader{{{NODE}}}", "{{instance}}")],
                "none",
                mappings=(("0", "follower", "text"), ("1", "PRODUCER", "green")),
            ),
            big_number(
                "Producer changes",
                "Producer lease epoch changes seen in the selected time range "
                "(aurigraph_consensus_leader_changes_total): the seed's leader elections. "
                "FrequentLeaderChanges fires on several in 15 minutes.",
                [
                    Query(
                        f"max(increase(aurigraph_consensus_leader_changes_total{{{NODE}}}"
                        "[$__range]))",
                        "changes",
                    )
                ],
                "none",
                steps=((None, "green"), (3, "orange")),
            ),
            graph(
                "Blocks per second",
                "Blocks produced per second (aurigraph_blocks_total; a round with no confirmed "
                "transaction writes no block).",
                [Query(f"sum(rate(aurigraph_blocks_total{{{NODE}}}[{RATE}]))", "blocks/s")],
                "short",
            ),
            graph(
                "Transactions per block",
                "Average number of transactions confirmed per block over the rate window.",
                [
                    Query(
                        f"sum(rate(aurigraph_transactions_processed_total{{{NODE}}}[{RATE}])) / "
                        f"sum(rate(aurigraph_blocks_total{{{NODE}}}[{RATE}]))",
                        "transactions/block",
                    )
                ],
                "short",
            ),
            graph(
                "Consensus rounds",
                "Block production rounds per second, and the rounds that failed (fenced out by "
                "a newer lease or a database error). ConsensusFailure fires on failures.",
                [
                    Query(
                        f"sum(rate(aurigraph_consensus_rounds_total{{{NODE}}}[{RATE}]))", "rounds"
                    ),
                    Query(
                        f"sum(rate(aurigraph_consensus_failures_total{{{NODE}}}[{RATE}]))",
                        "failed",
                    ),
                ],
                "short",
            ),
            graph(
                "Consensus round duration",
                "Duration of a block production round, p50 / p99 "
                "(aurigraph_consensus_round_duration_seconds). ConsensusLatencyHigh watches it.",
                quantiles("aurigraph_consensus_round_duration_seconds", NODE, qs=(0.5, 0.99)),
                "s",
            ),
            graph(
                "Transaction pool",
                "Accepted transactions waiting for a block, per node "
                "(aurigraph_transaction_queue_size). TransactionPoolFull watches it.",
                [Query(f"aurigraph_transaction_queue_size{{{NODE}}}", "{{instance}}")],
                "short",
                width=24,
            ),
        ],
    )
