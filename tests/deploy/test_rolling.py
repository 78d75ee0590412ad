"""Rolling deploys of a pool of node instances through a real router and controller."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from tests.deploy.test_bluegreen import Traffic
from tests.support.stack import V11OPS, Stack, running_stack
from v11ops.config import load_config
from v11ops.deploy.client import ControllerClient, controller_socket

# Each test deploys a pool of node processes two or three times.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(400)]


def rolling(instances: int, surge: int, unavailable: int) -> str:
    return f"""\
  default: rolling
  rolling:
    instances: {instances}
    max_surge: {surge}
    max_unavailable: {unavailable}
    batch_window_s: 1
    min_requests: 5
"""


@pytest.fixture
def surge_stack(tmp_path: Path) -> Iterator[Stack]:
    yield from running_stack(tmp_path / "stack", strategy=rolling(3, 1, 0))


@pytest.fixture
def unavailable_stack(tmp_path: Path) -> Iterator[Stack]:
    yield from running_stack(tmp_path / "stack", strategy=rolling(2, 0, 1))


class PoolWatch:
    """Samples the pool while a deploy runs: running instances and targets in the router with
    weight."""

    def __init__(self, stack: Stack, max_seconds: float = 120) -> None:
        self.stack, self.max_seconds = stack, max_seconds
        self.samples: list[dict[str, Any]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run)

    def __enter__(self) -> PoolWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        end = time.monotonic() + self.max_seconds
        config = load_config(self.stack.config)
        with ControllerClient(controller_socket(config)) as client:
            while not self._stop.is_set() and time.monotonic() < end:
                self._sample(client.status())
                time.sleep(0.2)

    def _sample(self, st: dict[str, Any]) -> None:
        alive = {n: s for n, s in st["slots"].items() if s["alive"]}
        targets = [t for t in st["router"]["routes"]["targets"] if t["weight"] > 0]
        self.samples.append({"alive": len(alive), "routed": len(targets)})


def signed_transactions(stack: Stack, seconds: float) -> subprocess.Popen[bytes]:
    """`v11ops load` through the router in the background: 20 signed transactions a second."""
    return subprocess.Popen(
        [V11OPS, "load", "--target", stack.url, "--rate", "20", "--duration", str(seconds)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


def assert_one_producer_at_a_time(stack: Stack) -> None:
    """The ledger's own record: along the chain the producer lease's epoch never goes back, and
    each epoch's blocks come from one instance. (Instances' self-reported roles are sampled one
    after another, so two can briefly both say LEADER while the lease moves: not evidence.)"""
    db = sqlite3.connect(f"file:{stack.root / 'state' / 'ledger.db'}?mode=ro", uri=True)
    with closing(db):
        rows = db.execute(
            "SELECT producer_epoch, producer_id FROM blocks ORDER BY height"
        ).fetchall()
    assert len(rows) > 10, "too few blocks to judge"
    epochs = [epoch for epoch, _ in rows]
    assert epochs == sorted(epochs), "the producer epoch went back along the chain"
    producers: dict[int, set[str]] = {}
    for epoch, producer in rows:
        producers.setdefault(epoch, set()).add(producer)
    assert all(len(p) == 1 for p in producers.values()), producers
    assert len(producers) > 1, "the lease never moved: the roll did not hand it over"


def explain(stack: Stack) -> dict[str, Any]:
    return dict(json.loads(stack.cli("history", "1", "--explain", "--json").stdout)[0])


def live_versions(stack: Stack) -> list[str]:
    return sorted(s["version"] for s in stack.status()["slots"].values() if s["role"] == "live")


def test_a_rolling_deploy_surges_by_one_and_never_drops_a_request(surge_stack: Stack) -> None:
    # 1.0.0 runs as three instances (the first deploy); the roll replaces all of them while
    # signed transactions keep blocks coming, so the producer lease must move.
    writer = signed_transactions(surge_stack, seconds=150)
    try:
        with Traffic(surge_stack.url) as traffic, PoolWatch(surge_stack) as watch:
            r = surge_stack.cli("deploy", "1.1.0")
        time.sleep(2)  # blocks from the new release's producer
    finally:
        writer.terminate()
        writer.wait(timeout=30)
    assert r.returncode == 0, r.stdout + r.stderr
    assert traffic.failed == [] and traffic.ok > 50
    assert live_versions(surge_stack) == ["1.1.0"] * 3
    assert watch.samples, "the watcher saw nothing"
    assert max(s["alive"] for s in watch.samples) <= 3 + 1
    assert min(s["routed"] for s in watch.samples) >= 1
    assert_one_producer_at_a_time(surge_stack)

    # A bad release: the first batch is caught and the pool is whole again on 1.1.0.
    with Traffic(surge_stack.url):
        r = surge_stack.cli("deploy", "errors")
    assert r.returncode == 1, r.stdout
    detail = explain(surge_stack)
    assert detail["status"] == "rolled_back" and detail["strategy"] == "rolling"
    assert live_versions(surge_stack) == ["1.1.0"] * 3
    assert {surge_stack.served_version() for _ in range(12)} == {"1.1.0"}


def test_max_unavailable_replaces_in_place_without_taking_the_last_instance_out(
    unavailable_stack: Stack,
) -> None:
    s = unavailable_stack
    assert s.cli("deploy", "1.1.0").returncode == 0  # 1 -> 2 instances of 1.1.0
    with Traffic(s.url) as traffic, PoolWatch(s) as watch:
        r = s.cli("deploy", "1.0.0")
    assert r.returncode == 0, r.stdout + r.stderr
    assert traffic.failed == []
    assert live_versions(s) == ["1.0.0"] * 2
    assert max(x["alive"] for x in watch.samples) <= 2  # max_surge 0
    assert min(x["routed"] for x in watch.samples) >= 1


def test_blue_green_is_refused_while_a_pool_runs(unavailable_stack: Stack) -> None:
    s = unavailable_stack
    assert s.cli("deploy", "1.1.0").returncode == 0
    r = s.cli("deploy", "1.0.0", "--strategy", "blue-green")
    assert r.returncode != 0
    assert "--strategy rolling" in r.stderr + r.stdout
    assert live_versions(s) == ["1.1.0"] * 2
