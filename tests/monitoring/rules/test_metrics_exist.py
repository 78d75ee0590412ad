"""Every metric the rules query is one a real node, router or node-exporter serves (or a recording
rule, or Prometheus's own `up`): the original's rules queried metrics nobody emitted. The backup
metrics come from real `v11ops backup` commands through node-exporter's textfile collector; the
certificate expiry from a builtin router serving HTTPS."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from typer.testing import CliRunner

from tests.monitoring.rules import procs
from tests.monitoring.rules.rulefiles import rules, selectors
from tests.support.nodeproc import NodeProcess
from tests.tls.routers import tls_router
from v11ops.backup.manifest import WAL_DIR
from v11ops.cli.main import app

pytestmark = pytest.mark.slow

SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
    "summary": ("", "_sum", "_count", "_created"),
    "info": ("_info",),
}


def served_names(text: str) -> set[str]:
    """Series names a scrape offers, including those of labelled families with no child yet."""
    names: set[str] = set()
    for family in text_string_to_metric_families(text):
        names.update(f"{family.name}{s}" for s in SUFFIXES.get(family.type, ("",)))
        names.update(sample.name for sample in family.samples)
    return names


@pytest.fixture
def node_scrape(node: NodeProcess) -> str:
    httpx.get(f"{node.url}/api/v11/info", timeout=5).raise_for_status()
    return httpx.get(f"{node.url}/q/metrics", timeout=5).text


@pytest.fixture
def backup_textfile(node: NodeProcess, tmp_path: Path) -> Path:
    """The textfile folder after a real backup and restore drill of the node's ledger, in a
    repository that also holds a WAL archive folder (as PostgreSQL's archiving makes)."""
    key, repo, textfile = tmp_path / "backup.key", tmp_path / "repo", tmp_path / "textfile"
    key.write_text(os.urandom(32).hex())
    (repo / WAL_DIR).mkdir(parents=True)
    common = ["--repo", str(repo), "--key-file", str(key), "--metrics-dir", str(textfile)]
    env = {"V11OPS_BACKUP_KEY": ""}
    for args in (["create", "--db", node.db], ["drill"]):
        result = CliRunner().invoke(app, ["backup", *args, *common], env=env)
        assert result.exit_code == 0, result.output
    return textfile


@pytest.fixture
def router_scrape(tmp_path: Path) -> str:
    """The metrics of a builtin router serving HTTPS (the certificate expiry gauge)."""
    with tls_router(tmp_path / "router") as router:
        return httpx.get(router.metrics_url, timeout=5).text


def queried_metrics() -> set[str]:
    recorded = {r["record"] for r in rules() if "record" in r}
    return {name for r in rules() for name in selectors(r["expr"])} - recorded - {"up"}


def test_every_aurigraph_metric_the_rules_query_is_served_by_a_running_node(
    node_scrape: str,
) -> None:
    wanted = {m for m in queried_metrics() if m.startswith("aurigraph_")}
    assert len(wanted) >= 12
    assert wanted - served_names(node_scrape) == set()


def test_every_other_metric_the_rules_query_is_served_by_the_node_router_or_node_exporter(
    node_scrape: str, router_scrape: str, backup_textfile: Path, tmp_path: Path
) -> None:
    with procs.node_exporter(tmp_path / "ne", backup_textfile) as exporter:
        host = httpx.get(f"{exporter.url}/metrics", timeout=10).text
    served = served_names(node_scrape) | served_names(router_scrape) | served_names(host)
    missing = queried_metrics() - served
    assert missing == set(), f"rules query metrics that nothing emits: {sorted(missing)}"


def test_the_check_sees_a_metric_that_nobody_emits(node_scrape: str) -> None:
    expr = "rate(aurigraph_consensus_failures_total[1m]) > rate(jvm_gc_pause_seconds_sum[1m])"
    assert selectors(expr) - served_names(node_scrape) == {"jvm_gc_pause_seconds_sum"}
