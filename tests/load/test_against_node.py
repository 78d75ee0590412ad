"""`v11ops load` against a real `v11ops node run` process on SQLite."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.nodeproc import V11OPS, NodeProcess
from v11ops.runtime import free_port

pytestmark = pytest.mark.slow


@pytest.fixture
def node(tmp_path: Path) -> Iterator[NodeProcess]:
    proc = NodeProcess(
        port=free_port(),
        db=f"sqlite:///{tmp_path / 'ledger.db'}",
        node_id="load-test",
        log_path=tmp_path / "node.log",
        extra_args=["--data-dir", str(tmp_path)],
    ).start()
    try:
        proc.wait_ready()
        yield proc
    finally:
        proc.kill()


def _load(url: str, seconds: str) -> dict[str, object]:
    args = [V11OPS, "load", "--target", url, "--rate", "200", "--duration", seconds]
    done = subprocess.run(
        [*args, "--batch", "5", "--accounts", "400", "--json"],
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode()
    report: dict[str, object] = json.loads(done.stdout)
    return report


def _settled_stats(url: str) -> dict[str, int]:
    """Stats once nothing is pending (bounded: the producer commits every 0.1 s here)."""
    stats: dict[str, int] = {}
    for _ in range(300):
        stats = httpx.get(f"{url}/api/v11/stats", timeout=5).json()
        if stats["pending"] == 0:
            break
        time.sleep(0.1)
    return stats


def _rejected_total(url: str) -> float:
    metrics = httpx.get(f"{url}/q/metrics", timeout=5).text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in metrics.splitlines()
        if line.startswith("aurigraph_transactions_total") and 'status="REJECTED"' in line
    )


def test_two_runs_against_one_database_are_all_accepted_and_committed(node: NodeProcess) -> None:
    first = _load(node.url, "2")
    second = _load(node.url, "1")
    assert first["accepted"] == first["transactions"] == 400
    assert second["accepted"] == second["transactions"] == 200
    assert first["errors"] == second["errors"] == {}
    stats = _settled_stats(node.url)
    assert stats["pending"] == 0
    # The second run's nonces start above the first's: nothing is rejected by the producer.
    assert stats["committedTotal"] == 600
    assert _rejected_total(node.url) == 0
