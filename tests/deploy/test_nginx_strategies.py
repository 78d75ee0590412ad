"""Canary and rolling deploys with nginx as the router: upstream weights and a consistent hash
of the sticky cookie, applied by render + `nginx -t` + confirmed reload."""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.deploy.test_canary import HELD
from tests.deploy.test_nginx_router import _new_connection_per_request
from tests.deploy.test_rolling import rolling
from tests.support.services import require_binary
from tests.support.stack import Stack, running_stack

pytestmark = [pytest.mark.slow, pytest.mark.timeout(400)]


def nginx_stack(root: Path, strategy: str) -> Iterator[Stack]:
    require_binary("nginx")
    yield from running_stack(root, router_kind="nginx", strategy=strategy)


@pytest.fixture
def held(tmp_path: Path) -> Iterator[Stack]:
    yield from nginx_stack(tmp_path / "stack", HELD)


@pytest.fixture
def pool(tmp_path: Path) -> Iterator[Stack]:
    yield from nginx_stack(tmp_path / "stack", rolling(2, 1, 0))


def status_of(stack: Stack) -> str:
    return str(json.loads(stack.cli("history", "1", "--json").stdout)[0]["status"])


def test_an_nginx_canary_splits_by_weight_and_keeps_sticky_clients(held: Stack) -> None:
    assert held.cli("deploy", "1.1.0", "--strategy", "canary", "--no-wait").returncode == 0
    held.wait(lambda: status_of(held) == "paused", timeout=90)
    with httpx.Client(timeout=5) as client:
        plain = Counter(
            client.get(f"{held.url}/api/v11/info").json()["version"] for _ in range(200)
        )
        seen: dict[int, set[str]] = {}
        for user in range(40):
            for _ in range(5):
                r = client.get(
                    f"{held.url}/api/v11/info", headers={"Cookie": f"v11_canary=user-{user}"}
                )
                seen.setdefault(user, set()).add(r.json()["version"])
    # Approximate with nginx (a hash of $request_id per request): 25 % of 200 is 50, sd ~6.
    assert 20 <= plain["1.1.0"] <= 80, plain
    assert all(len(v) == 1 for v in seen.values()), seen
    assert {v for versions in seen.values() for v in versions} == {"1.0.0", "1.1.0"}
    failures: list[str] = []
    client_thread = threading.Thread(
        target=_new_connection_per_request, args=(held.url, 5, failures)
    )
    client_thread.start()
    assert held.cli("promote").returncode == 0
    held.wait(lambda: status_of(held) == "succeeded", timeout=60)
    client_thread.join(timeout=30)
    assert failures == []
    assert held.served_version() == "1.1.0"


def fresh_connections_until(url: str, stop: threading.Event, failures: list[str]) -> None:
    """Like `_new_connection_per_request`, until `stop` (bounded: 2,000 requests)."""
    for _ in range(2_000):
        if stop.is_set():
            return
        _new_connection_per_request(url, 0.05, failures)


def test_an_nginx_rolling_deploy_replaces_the_pool_without_a_failed_request(pool: Stack) -> None:
    failures: list[str] = []
    stop = threading.Event()
    client = threading.Thread(target=fresh_connections_until, args=(pool.url, stop, failures))
    client.start()
    try:
        r = pool.cli("deploy", "1.1.0")
    finally:
        stop.set()
        client.join(timeout=30)
    assert r.returncode == 0, r.stdout + r.stderr
    assert failures == []
    live = [s["version"] for s in pool.status()["slots"].values() if s["role"] == "live"]
    assert live == ["1.1.0", "1.1.0"]
    assert {pool.served_version() for _ in range(10)} == {"1.1.0"}
