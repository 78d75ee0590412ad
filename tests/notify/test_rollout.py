"""Notifications from real deploys (router, controller and node processes): the webhooks that
answer get every event; a closed port and a webhook that hangs hold nothing up, give up after
their bounded retries, and their secret URLs never show in events or logs."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest

from tests.gates.servers import running
from tests.notify.api import controller, deploy, explain, live, set_hooks
from tests.notify.conftest import Receiver, hanging
from tests.support.stack import Stack, make_stack
from v11ops.runtime import free_port

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

SECRET = "sekrit-webhook-token"


def notifications(receiver: str, closed_port: int) -> str:
    return f"""\
notifications:
  flush_timeout_s: 1
  webhooks:
    - {{name: ops, format: slack, url: "{receiver}/slack"}}
    - {{name: audit, url: "{receiver}/generic"}}
    - name: down
      url: "http://127.0.0.1:{closed_port}/services/T0/B0/{SECRET}"
      retries: 2
      backoff_s: 0.05
    - name: stuck
      url: file:stuck-url
      timeout_s: 0.5
      retries: 1
      backoff_s: 0.05
      deadline_s: 3
"""


@pytest.fixture(scope="module")
def rollout(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Stack, Receiver]]:
    receiver = Receiver()
    with running(receiver.app()) as url, hanging() as stuck_port:
        receiver.url = url
        stack = make_stack(tmp_path_factory.mktemp("notify") / "stack")
        (stack.root / "stuck-url").write_text(f"http://127.0.0.1:{stuck_port}/h?key={SECRET}\n")
        text = stack.config.read_text().replace(
            "state_dir: state\n", notifications(url, free_port()) + "state_dir: state\n"
        )
        stack.config.write_text(text)
        up = stack.cli("up", "--version", "1.0.0")
        try:
            assert up.returncode == 0, up.stdout + up.stderr
            yield stack, receiver
        finally:
            stack.cli("down", timeout=120)


def generic_events(receiver: Receiver, deployment: int) -> list[dict[str, Any]]:
    return [b for b in receiver.bodies("/generic") if b["deployment_id"] == deployment]


def metric(stack: Stack, outcome: str) -> float:
    with controller(stack) as api:
        text = api.metrics()
    match = re.search(rf'^v11ops_notifications_total{{outcome="{outcome}"}} (\S+)$', text, re.M)
    return float(match[1]) if match else 0.0


def test_a_deploy_is_notified_and_unreachable_webhooks_hold_nothing_up(
    rollout: tuple[Stack, Receiver],
) -> None:
    stack, receiver = rollout
    detail = deploy(stack, "1.1.0")
    assert detail["status"] == "succeeded", detail["reason"]
    dep = detail["id"]
    assert stack.served_version() == "1.1.0"

    stack.wait(lambda: [e["event"] for e in generic_events(receiver, dep)][-1:] == ["succeeded"])
    events = generic_events(receiver, dep)
    assert [e["event"] for e in events] == ["started", "step", "succeeded"]
    assert {k: events[0][k] for k in ("service", "version", "previous_version", "strategy")} == {
        "service": "aurigraph-v11-node", "version": "1.1.0", "previous_version": "1.0.0",
        "strategy": "blue-green",
    }  # fmt: skip
    slack = [b for b in receiver.bodies("/slack") if f"#{dep}" in json.dumps(b["blocks"])]
    titles = ["1.1.0: deploy started", "1.1.0: step reached", "1.1.0: deploy succeeded"]
    assert len(slack) == 3 and all(t in b["text"] for t, b in zip(titles, slack, strict=True))

    # Both dead webhooks give up on each of the three events, after bounded attempts.
    def failures() -> list[dict[str, Any]]:
        events = explain(stack, dep)["events"]
        return [e["data"] for e in events if e["kind"] == "notification_failed"]

    stack.wait(lambda: len(failures()) == 6, timeout=60)
    attempts = {(f["webhook"], f["attempts"]) for f in failures()}
    assert {a for w, a in attempts if w == "down"} == {3}  # 1 + retries: 2
    assert all(1 <= a <= 2 for w, a in attempts if w == "stuck")
    assert metric(stack, "failed") >= 6 and metric(stack, "delivered") >= 6

    log = (stack.root / "state" / "logs" / "controller.log").read_text()
    assert "notification not delivered" in log
    assert SECRET not in log
    assert SECRET not in json.dumps([explain(stack, d) for d in range(1, dep + 1)])


def test_a_rollback_is_notified_with_its_reason(rollout: tuple[Stack, Receiver]) -> None:
    stack, receiver = rollout
    # A failing post-switch hook: a rollback right after the switch, whatever the machine's load.
    set_hooks(stack, '  post_switch:\n    - {name: check, kind: command, command: ["false"]}\n')
    before = live(stack)
    detail = deploy(stack, "1.1.0" if before[1] == "1.0.0" else "1.0.0")
    assert detail["status"] == "rolled_back" and live(stack) == before
    dep = detail["id"]
    stack.wait(lambda: [e["event"] for e in generic_events(receiver, dep)][-1:] == ["rolled_back"])
    events = generic_events(receiver, dep)
    assert [e["event"] for e in events] == ["started", "step", "rolled_back"]
    rolled_back = events[-1]
    assert rolled_back["previous_version"] == before[1]
    assert rolled_back["data"]["reason"].startswith("post_switch failed")
