"""The node metrics the Business dashboard added: value transferred and active accounts."""

from __future__ import annotations

from prometheus_client import generate_latest

from v11node.metrics import ActiveAccounts, NodeMetrics


def test_active_accounts_counts_each_account_once_within_the_window() -> None:
    accounts = ActiveAccounts(window_s=300)
    accounts.saw([b"a", b"b", b"a"], now=1000.0)
    accounts.saw([b"c"], now=1100.0)
    assert accounts.count(now=1100.0) == 3


def test_an_account_leaves_the_window_unless_it_is_seen_again() -> None:
    accounts = ActiveAccounts(window_s=300)
    accounts.saw([b"a", b"b"], now=1000.0)
    accounts.saw([b"a"], now=1200.0)
    assert accounts.count(now=1301.0) == 1  # b expired at 1300, a was seen again at 1200
    assert accounts.count(now=1501.0) == 0


def test_the_node_exports_value_transferred_and_active_accounts() -> None:
    metrics = NodeMetrics("1.0.0", "blue", "sqlite")
    try:
        metrics.value_transferred.inc(250)
        metrics.active_accounts.saw([b"a", b"b"])
        text = generate_latest(metrics.registry).decode()
    finally:
        metrics.detach()
    assert "aurigraph_value_transferred_total 250.0" in text
    assert "aurigraph_accounts_active 2.0" in text
