"""Canary deploys through a real builtin router, controller and node processes."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.deploy.test_bluegreen import Traffic
from tests.support.stack import Stack, running_stack

pytestmark = pytest.mark.slow

CANARY = """\
  canary:
    min_requests: 5
    scale_down_delay_s: 10
    steps:
      - set_weight: 25
      - pause: {duration_s: 1.5}
      - set_weight: 50
      - pause: {duration_s: 1.5}
      - set_weight: 100
"""

HELD = """\
  canary:
    min_requests: 5
    steps:
      - set_weight: 25
      - pause: {}
      - set_weight: 100
"""


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    yield from running_stack(tmp_path / "stack", strategy=CANARY)


@pytest.fixture
def held(tmp_path: Path) -> Iterator[Stack]:
    yield from running_stack(tmp_path / "stack", strategy=HELD)


def explain(stack: Stack) -> dict[str, object]:
    return dict(json.loads(stack.cli("history", "1", "--explain", "--json").stdout)[0])


def test_a_good_canary_walks_its_steps_without_a_failed_request(stack: Stack) -> None:
    with Traffic(stack.url) as traffic:
        r = stack.cli("deploy", "1.1.0", "--strategy", "canary")
    assert r.returncode == 0, r.stdout + r.stderr
    assert traffic.failed == []
    assert traffic.versions == {"1.0.0", "1.1.0"}
    detail = explain(stack)
    assert detail["strategy"] == "canary" and detail["status"] == "succeeded"
    weights = [s["detail"]["weight"] for s in detail["steps"] if s["name"] == "set_weight"]
    assert weights == [25, 50, 100]
    assert stack.live()[1] == "1.1.0" and stack.served_version() == "1.1.0"


def test_an_erroring_canary_is_rolled_back_at_its_first_weight(stack: Stack) -> None:
    with Traffic(stack.url):
        r = stack.cli("deploy", "errors", "--strategy", "canary")
    assert r.returncode == 1, r.stdout
    detail = explain(stack)
    assert detail["status"] == "rolled_back"
    weights = [s["detail"]["weight"] for s in detail["steps"] if s["name"] == "set_weight"]
    assert weights == [25]
    window = next(v for v in detail["verdicts"] if v["gate"] == "post_switch_window")
    assert window["passed"] is False
    assert window["evidence"][0]["check"] == "error_rate"
    assert stack.live()[1] == "1.0.0" and stack.served_version() == "1.0.0"
    assert stack.status()["router"]["routes"]["targets"][0]["version"] == "1.0.0"


def test_weights_are_exact_per_request_and_sticky_keys_keep_their_version(held: Stack) -> None:
    r = held.cli("deploy", "1.1.0", "--strategy", "canary", "--no-wait")
    assert r.returncode == 0, r.stderr
    held.wait(lambda: explain(held)["status"] == "paused", timeout=60)
    with httpx.Client(timeout=5) as client:
        plain = Counter(
            client.get(f"{held.url}/api/v11/info").json()["version"] for _ in range(100)
        )
        assert plain == {"1.0.0": 75, "1.1.0": 25}
        seen: dict[str, set[str]] = {}
        for user in range(40):
            for _ in range(5):
                cookie = {"Cookie": f"v11_canary=user-{user}"}
                r = client.get(f"{held.url}/api/v11/info", headers=cookie)
                seen.setdefault(f"user-{user}", set()).add(r.json()["version"])
    assert all(len(versions) == 1 for versions in seen.values()), seen
    assert {v for versions in seen.values() for v in versions} == {"1.0.0", "1.1.0"}
    assert held.cli("promote").returncode == 0
    held.wait(lambda: explain(held)["status"] == "succeeded", timeout=60)
    assert held.served_version() == "1.1.0"


def test_abort_during_a_pause_puts_all_traffic_back_on_the_stable_release(held: Stack) -> None:
    assert held.cli("deploy", "1.1.0", "--strategy", "canary", "--no-wait").returncode == 0
    held.wait(lambda: explain(held)["status"] == "paused", timeout=60)
    assert held.cli("abort").returncode == 0
    held.wait(lambda: explain(held)["status"] == "aborted", timeout=60)
    assert held.live()[1] == "1.0.0"
    assert {held.served_version() for _ in range(20)} == {"1.0.0"}


def test_an_unknown_strategy_is_a_usage_error(stack: Stack) -> None:
    r = stack.cli("deploy", "1.1.0", "--strategy", "yolo")
    assert r.returncode == 2
    assert "unknown strategy 'yolo'" in r.stderr and "Traceback" not in r.stderr
