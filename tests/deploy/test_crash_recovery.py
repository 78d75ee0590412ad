"""SIGKILL the controller at every journal step of a deploy; after a restart, traffic is on a
healthy release, the deployment has one consistent final state and no process is orphaned."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.stack import Stack, make_stack
from v11ops.config import load_config
from v11ops.deploy.crashpoints import ENV as CRASH_ENV
from v11ops.deploy.stack import controller_alive, ensure_controller, stop_controller
from v11ops.runtime import MARKER_ENV
from v11ops.runtime._procfs import processes_with_env

pytestmark = pytest.mark.slow

STEPS = ["start", "readiness", "smoke", "pre_switch", "switch", "post_switch_window"]
CASES = [(step, phase) for step in STEPS for phase in ("before", "after")]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    s = make_stack(tmp_path_factory.mktemp("crash") / "stack", window_s=1.0, scale_down_s=0.5)
    up = s.cli("up", "--version", "1.0.0")
    assert up.returncode == 0, up.stdout + up.stderr
    yield s
    s.cli("down", timeout=120)


def _instances_with_processes(state_dir: Path) -> set[str]:
    """Instance ids of every running process started for this stack (a node's own worker
    processes carry its instance id too)."""
    marked = processes_with_env(MARKER_ENV, f"{state_dir}::")
    return {value.split("::", 1)[1] for value in marked.values()}


def _instance_ids_of(state_dir: Path, pids: set[int]) -> set[str]:
    records = [json.loads(p.read_text()) for p in (state_dir / "instances").glob("*.json")]
    return {r["id"] for r in records if r["pid"] in pids}


@pytest.mark.parametrize(("step", "phase"), CASES, ids=[f"{s}-{p}" for s, p in CASES])
def test_controller_killed_at_a_step_recovers_to_a_healthy_release(
    stack: Stack, step: str, phase: str
) -> None:
    config = load_config(stack.config)
    _, before = stack.live()
    target = "1.1.0" if before == "1.0.0" else "1.0.0"
    stop_controller(config, stop_slots=False)
    ensure_controller(config, env={CRASH_ENV: f"{step}:{phase}"})
    assert stack.cli("deploy", target, "--no-wait").returncode == 0
    stack.wait(lambda: not controller_alive(config), timeout=30)

    ensure_controller(config)  # a new controller reconciles on start
    stack.wait(lambda: stack.status()["deploying"] is False, timeout=60)
    history = json.loads(stack.cli("history", "1", "--explain", "--json").stdout)[0]
    assert history["status"] in ("succeeded", "aborted", "rolled_back"), history
    assert any(e["kind"] == "recovering" for e in history["events"])
    switched = any(s["name"] == "switch" and s["status"] == "done" for s in history["steps"])
    expected = target if switched else before
    if not switched:
        assert history["status"] == "aborted"
    assert stack.served_version() == expected
    assert httpx.get(f"{stack.url}/q/health/ready", timeout=5).status_code == 200

    # No orphan: every process started for this stack belongs to a slot the controller knows.
    stack.wait(lambda: all(s["role"] in ("live", "idle") for s in stack.status()["slots"].values()))
    status = stack.status()
    owned = {s["pid"] for s in status["slots"].values() if s["alive"]}
    assert len(owned) == 1
    running = _instances_with_processes(config.state_path)
    assert running == _instance_ids_of(config.state_path, owned), (running, status["slots"])


PROGRESSIVE = {
    "canary": """\
  canary:
    steps:
      - set_weight: 50
      - pause: {duration_s: 30}
""",
    "rolling": """\
  rolling:
    instances: 2
    max_surge: 1
    batch_window_s: 30
""",
}


@pytest.mark.timeout(300)
@pytest.mark.parametrize(
    ("strategy", "crash_at"), [("canary", "set_weight:after"), ("rolling", "batch_traffic:after")]
)
def test_a_controller_killed_mid_canary_or_mid_roll_leaves_only_routed_live_instances(
    tmp_path: Path, strategy: str, crash_at: str
) -> None:
    s = make_stack(tmp_path / "stack", strategy=PROGRESSIVE[strategy])
    try:
        assert s.cli("up", "--version", "1.0.0").returncode == 0
        config = load_config(s.config)
        stop_controller(config, stop_slots=False)
        ensure_controller(config, env={CRASH_ENV: crash_at})
        assert s.cli("deploy", "1.1.0", "--strategy", strategy, "--no-wait").returncode == 0
        s.wait(lambda: not controller_alive(config), timeout=60)

        ensure_controller(config)
        s.wait(lambda: s.status()["deploying"] is False, timeout=60)
        history = json.loads(s.cli("history", "1", "--explain", "--json").stdout)[0]
        assert history["status"] == "aborted", history
        status = s.status()
        live = {n: v for n, v in status["slots"].items() if v["role"] == "live"}
        routed = {t["name"] for t in status["router"]["routes"]["targets"] if t["weight"] > 0}
        assert live and all(v["alive"] for v in live.values())
        assert routed == set(live), (routed, live)
        if strategy == "canary":
            assert [v["version"] for v in live.values()] == ["1.0.0"]
        running = _instances_with_processes(config.state_path)
        owned = {v["pid"] for v in live.values()}
        assert running == _instance_ids_of(config.state_path, owned)
        assert httpx.get(f"{s.url}/q/health/ready", timeout=5).status_code == 200
    finally:
        s.cli("down", timeout=120)
