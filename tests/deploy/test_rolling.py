"""Rolling deploys of a pool of node instances through a real router and controller."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.deploy.test_bluegreen import Traffic
from tests.support.stack import Stack, running_stack
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
    """Samples the pool while a deploy runs: running instances, targets in the router with
    weight, and how many instances say they hold the block producer lease."""

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
        self.samples.append(
            {"alive": len(alive), "routed": len(targets), "leaders": _leaders(targets)}
        )


def _leaders(targets: list[dict[str, Any]]) -> int:
    leaders = 0
    for t in targets:
        try:
            r = httpx.get(f"{t['url']}/api/v11/consensus/status", timeout=2)
            leaders += r.json()["role"] == "LEADER"
        except (httpx.HTTPError, ValueError, KeyError):
            pass
    return leaders


def explain(stack: Stack) -> dict[str, Any]:
    return dict(json.loads(stack.cli("history", "1", "--explain", "--json").stdout)[0])


def live_versions(stack: Stack) -> list[str]:
    return sorted(s["version"] for s in stack.status()["slots"].values() if s["role"] == "live")


def test_a_rolling_deploy_surges_by_one_and_never_drops_a_request(surge_stack: Stack) -> None:
    # 1.0.0 runs as one instance (the first deploy); rolling makes it a pool of three.
    with Traffic(surge_stack.url) as traffic, PoolWatch(surge_stack) as watch:
        r = surge_stack.cli("deploy", "1.1.0")
    assert r.returncode == 0, r.stdout + r.stderr
    assert traffic.failed == [] and traffic.ok > 50
    assert live_versions(surge_stack) == ["1.1.0"] * 3
    assert watch.samples, "the watcher saw nothing"
    assert max(s["alive"] for s in watch.samples) <= 3 + 1
    assert min(s["routed"] for s in watch.samples) >= 1
    assert max(s["leaders"] for s in watch.samples) <= 1

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
