"""Alert-driven rollback through a real router, controller and node processes: an Alertmanager
webhook about the new release inside the post-switch window rolls it back, with the alert as
the evidence. The webhook is POSTed here as Alertmanager would (test_monitored_stack.py has the
same through a real Prometheus and Alertmanager)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.monitoring.stack.support import wait_for
from tests.support.stack import Stack, make_stack
from v11ops.config import load_config
from v11ops.deploy.client import ControllerClient, controller_socket
from v11ops.monitoring.stack import WEBHOOK_PATH, listener_url

pytestmark = pytest.mark.slow

MONITORING = """\
monitoring:
  prometheus: {rules: null}
  alertmanager: {config: null}
  webhook: {listen: auto}
"""


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    s = make_stack(tmp_path / "stack", window_s=30.0, top=MONITORING)
    try:
        up = s.cli("up", "--version", "1.0.0")
        assert up.returncode == 0, up.stdout + up.stderr
        yield s
    finally:
        s.cli("down", timeout=120)


def payload(status: str, *alerts: dict[str, Any]) -> dict[str, Any]:
    """An Alertmanager webhook body (version 4), as the receiver gets it."""
    return {"version": "4", "groupKey": "{}:{}", "truncatedAlerts": 0, "status": status,
            "receiver": "v11ops-controller", "groupLabels": {}, "commonLabels": {},
            "commonAnnotations": {}, "externalURL": "http://alertmanager",
            "alerts": list(alerts)}  # fmt: skip


def alert(name: str, severity: str, slot: str, version: str, started: datetime) -> dict[str, Any]:
    return {
        "status": "firing",
        "labels": {"alertname": name, "severity": severity, "slot": slot, "version": version,
                   "instance": "127.0.0.1:9004", "job": "aurigraph-v11-node"},
        "annotations": {"summary": f"{name} on {slot}", "runbook_url": "docs/runbook.md"},
        "startsAt": started.isoformat(), "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus/graph", "fingerprint": f"{name}-{slot}-{version}",
    }  # fmt: skip


def test_a_critical_alert_about_the_new_release_in_the_window_rolls_it_back(stack: Stack) -> None:
    config = load_config(stack.config)
    url = f"{listener_url(config)}{WEBHOOK_PATH}"
    token = (config.state_path / "monitoring" / "webhook.token").read_text().strip()
    auth = {"Authorization": f"Bearer {token}"}
    with ControllerClient(controller_socket(config)) as controller:
        dep = controller.deploy("1.1.0")
        wait_for(lambda: any(s["name"] == "post_switch_window"
                             for s in controller.deployment(dep)["steps"]),
                 what="the post-switch window began")  # fmt: skip
        candidate = controller.deployment(dep)["candidate_slot"]
        now = datetime.now(UTC)

        assert httpx.post(url, json=payload("firing")).status_code == 401
        wrong = httpx.post(url, json=payload("firing"), headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401 and wrong.headers["www-authenticate"] == "Bearer"
        assert httpx.post(url, content=b"{}", headers=auth).status_code == 400
        assert httpx.get(f"{listener_url(config)}/metrics").status_code == 401

        # Not about the new release, or not severe enough, or older than the deployment.
        ignored = payload(
            "firing",
            alert("V11ServiceDown", "critical", candidate, "1.0.0", now),
            alert("SlowResponseTime", "warning", candidate, "1.1.0", now),
            alert("V11HighErrorRate", "critical", candidate, "1.1.0", now - timedelta(hours=1)),
        )
        assert httpx.post(url, json=ignored, headers=auth).status_code == 200
        time.sleep(1.0)  # four polls of the window
        assert controller.deployment(dep)["status"] == "running"

        bad = alert("V11HighErrorRate", "critical", candidate, "1.1.0", datetime.now(UTC))
        bad["fingerprint"] = "fresh"
        assert httpx.post(url, json=payload("firing", bad), headers=auth).status_code == 200
        wait_for(lambda: controller.deployment(dep)["status"] == "rolled_back",
                 timeout_s=20, what="the release was rolled back")  # fmt: skip
        detail = controller.deployment(dep)
        metrics = httpx.get(f"{listener_url(config)}/metrics", headers=auth).text

    assert stack.served_version() == "1.0.0"
    window = next(v for v in detail["verdicts"] if v["gate"] == "post_switch_window")
    evidence = window["evidence"][0]
    assert window["passed"] is False and evidence["check"] == "alert"
    assert evidence["observed"]["alertname"] == "V11HighErrorRate"
    assert evidence["observed"]["labels"]["version"] == "1.1.0"
    assert detail["reason"].startswith("post_switch_window failed: FAIL alert")
    assert [e["kind"] for e in detail["events"]].count("alert_firing") == 4
    assert 'v11ops_alert_webhooks_total{outcome="unauthorized"} 3.0' in metrics
    explained = stack.cli("history", "1", "--explain").stdout
    assert "BAD alert" in explained and "V11HighErrorRate" in explained
    log = (config.state_path / "logs" / "controller.log").read_text()
    assert "refused a request without a valid bearer token" in log and token not in log
