"""The same blue-green deploys with nginx as the router (render, `nginx -t`, confirmed reload)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.services import require_binary
from tests.support.stack import Stack, make_stack

pytestmark = pytest.mark.slow


@pytest.fixture
def nginx_stack(tmp_path: Path) -> Iterator[Stack]:
    require_binary("nginx")
    s = make_stack(tmp_path / "stack", router_kind="nginx")
    up = s.cli("up", "--version", "1.0.0")
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        yield s
    finally:
        s.cli("down", timeout=120)


def _new_connection_per_request(url: str, seconds: float, failures: list[str]) -> None:
    """Fresh connections only: nginx's reload closes idle keep-alive connections (measured in
    bench/switch.py), so this client checks the switch itself, not that known nginx race."""
    end = time.monotonic() + seconds
    for _ in range(10_000):
        if time.monotonic() > end:
            return
        try:
            r = httpx.get(f"{url}/api/v11/info", timeout=10)
            if r.status_code != 200:
                failures.append(str(r.status_code))
        except httpx.HTTPError as exc:
            failures.append(repr(exc))


def test_nginx_switches_a_good_release_without_a_failed_request(nginx_stack: Stack) -> None:
    failures: list[str] = []
    client = threading.Thread(
        target=_new_connection_per_request, args=(nginx_stack.url, 6, failures)
    )
    client.start()
    r = nginx_stack.cli("deploy", "1.1.0")
    client.join(timeout=40)
    assert r.returncode == 0, r.stdout + r.stderr
    assert failures == []
    assert nginx_stack.served_version() == "1.1.0"
    detail = json.loads(nginx_stack.cli("history", "1", "--explain", "--json").stdout)[0]
    window = next(v for v in detail["verdicts"] if v["gate"] == "post_switch_window")
    assert "only health was judged" in window["evidence"][1]["note"]


def test_nginx_rolls_back_a_release_that_crashes_after_the_switch(nginx_stack: Stack) -> None:
    r = nginx_stack.cli("deploy", "crashes")
    assert r.returncode == 1
    assert nginx_stack.served_version() == "1.0.0"
    detail = json.loads(nginx_stack.cli("history", "1", "--explain", "--json").stdout)[0]
    assert detail["status"] == "rolled_back"
