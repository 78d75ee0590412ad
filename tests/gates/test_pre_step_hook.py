"""The pre_step hook point (canary, before each weight change), through the helper every
strategy calls: a journaled gate that fails the step when a required hook fails."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from v11ops.config import load_config
from v11ops.deploy.controller import Controller
from v11ops.deploy.hookpoints import pre_step
from v11ops.deploy.journal import Journal, StepFailed
from v11ops.deploy.routers import router_backend
from v11ops.deploy.state import StateDB
from v11ops.deploy.traffic import Traffic
from v11ops.gates import HookContext
from v11ops.runtime import ProcessRuntime

pytestmark = pytest.mark.timeout(60)

Make = Callable[[list[dict[str, Any]]], Controller]


@pytest.fixture
def controller(tmp_path: Path) -> Iterator[Make]:
    made: list[Controller] = []

    def make(hooks: list[dict[str, Any]]) -> Controller:
        made.append(build(tmp_path, hooks))
        return made[-1]

    yield make
    for ctl in made:
        ctl.traffic.close()
        ctl.state.close()


def build(tmp_path: Path, hooks: list[dict[str, Any]]) -> Controller:
    path = tmp_path / "v11ops.yaml"
    path.write_text(yaml.safe_dump({
        "service": {"name": "svc", "command": ["true"]},
        "releases": {"1.0.0": {}, "1.1.0": {}},
        "hooks": {"pre_step": hooks},
    }))  # fmt: skip
    config = load_config(path)
    state = StateDB(config.state_path / "state.db")
    return Controller(
        config, state, ProcessRuntime(config.state_path), Traffic(router_backend(config))
    )


def step(ctl: Controller, weight: int) -> tuple[Journal, str | None]:
    """Run the pre_step hooks for `weight` in a fresh deployment; the failure reason, if any."""
    token = ctl.state.acquire_lock("test", 60)
    dep = ctl.state.create_deployment("1.1.0", "1.0.0", "canary", "deploy", "green", "blue", token)
    journal = Journal(ctl.state, dep, token)
    context = HookContext(new="http://127.0.0.1:2", version="1.1.0", slot="green",
                          state_dir=str(ctl.config.state_path))  # fmt: skip
    try:
        asyncio.run(pre_step(ctl, journal, context, weight=weight, index=2))
    except StepFailed as exc:
        return journal, str(exc)
    finally:
        ctl.state.release_lock("test", token)
    return journal, None


def test_a_failing_pre_step_hook_fails_the_step_with_evidence(controller: Make) -> None:
    hook = {"name": "approve", "kind": "command", "timeout_s": 10,
            "command": ["{python}", "-c", "import sys; print('not now'); sys.exit(1)"]}  # fmt: skip
    ctl = controller([hook])
    journal, failure = step(ctl, 50)
    assert failure is not None and failure.startswith("pre_step failed")
    (journaled,) = ctl.state.steps(journal.deployment_id)
    assert journaled["name"] == "pre_step" and journaled["status"] == "failed"
    assert journaled["detail"]["weight"] == 50
    (verdict,) = ctl.state.verdicts(journal.deployment_id)
    assert verdict["passed"] is False and "not now" in verdict["evidence"][0]["note"]


def test_a_passing_or_optional_pre_step_hook_lets_the_step_go_on(controller: Make) -> None:
    ok = {"name": "ok", "kind": "command", "command": ["{python}", "-c", "pass"]}
    optional = {"name": "best-effort", "kind": "command", "required": False,
                "command": ["{python}", "-c", "raise SystemExit(2)"]}  # fmt: skip
    ctl = controller([ok, optional])
    journal, failure = step(ctl, 10)
    assert failure is None
    assert [s["status"] for s in ctl.state.steps(journal.deployment_id)] == ["done"]


def test_no_pre_step_hooks_journal_nothing(controller: Make) -> None:
    ctl = controller([])
    journal, failure = step(ctl, 10)
    assert failure is None and ctl.state.steps(journal.deployment_id) == []
