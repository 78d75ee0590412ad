"""End to end through real binaries on loopback: Alertmanager delivers each priority to its
receiver (P2 by email to a real SMTP server, P0 to the paging webhook, P1 to chat) and applies
the inhibitions; and a node that stops is paged as V11ServiceDown by a real Prometheus, then
resolved when it comes back."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.monitoring.rules import procs
from tests.monitoring.rules.rulefiles import SLO_SPEC
from tests.support.nodeproc import NodeProcess
from v11ops.monitoring.rules import RuleParams, load_slo_spec, render_rule_files, write_rule_files

pytestmark = pytest.mark.slow

NODE_JOB = RuleParams().node_job


@pytest.fixture(scope="module")
def inbox() -> Iterator[procs.Inbox]:
    with procs.Inbox() as inbox:
        yield inbox


@pytest.fixture(scope="module")
def mailbox() -> Iterator[procs.Mailbox]:
    with procs.Mailbox().running() as mailbox:
        yield mailbox


@pytest.fixture(scope="module")
def alertmanager(
    inbox: procs.Inbox, mailbox: procs.Mailbox, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[procs.Server]:
    params = procs.fast_alertmanager_params(inbox, mailbox)
    with procs.alertmanager(tmp_path_factory.mktemp("alertmanager"), params) as server:
        yield server


def _alert(name: str, severity: str, priority: str, **labels: str) -> dict[str, Any]:
    return {
        "labels": {"alertname": name, "severity": severity, "priority": priority, **labels},
        "annotations": {
            "summary": f"{name} summary",
            "description": f"{name} on {labels.get('instance', '-')}",
            "runbook_url": f"docs/runbook.md#{name.lower()}",
        },
    }


def _names(body: dict[str, Any], status: str = "firing") -> set[tuple[str, str]]:
    return {
        (a["labels"]["alertname"], a["labels"].get("instance", ""))
        for a in body["alerts"]
        if a["status"] == status
    }


def test_each_priority_reaches_its_receiver_p2_by_email_p0_by_webhook(
    alertmanager: procs.Server, inbox: procs.Inbox, mailbox: procs.Mailbox
) -> None:
    procs.post_alerts(
        alertmanager.url,
        _alert("HighDiskUsage", "info", "P2", job="node", instance="mail:9100"),
        _alert("HighErrorRate", "critical", "P0", job=NODE_JOB, instance="page:9003"),
        _alert("HighCPUUsage", "warning", "P1", job="node", instance="chat:9100"),
    )

    mail = mailbox.wait_for(lambda m: "HighDiskUsage" in str(m["Subject"]))
    assert mail["Subject"] == "[FIRING:1] P2 HighDiskUsage (node)"
    assert mail["To"] == "tickets@v11.test"
    text = mail.get_body(preferencelist=("plain",))
    assert text is not None
    body = text.get_content()
    assert "HighDiskUsage on mail:9100" in body
    assert "Runbook: docs/runbook.md#highdiskusage" in body

    page = inbox.wait_for("/pager", lambda b: ("HighErrorRate", "page:9003") in _names(b))
    assert page.body["receiver"] == "pager"
    assert page.body["alerts"][0]["annotations"]["runbook_url"] == "docs/runbook.md#higherrorrate"

    chat = inbox.wait_for("/chat", lambda b: "HighCPUUsage" in str(b.get("attachments")))
    attachment = chat.body["attachments"][0]
    assert attachment["title"] == "[FIRING:1] P1 HighCPUUsage (node)"
    assert "on chat:9100" in attachment["text"]

    assert all(item.path != "/pager" for item in inbox.items if "mail:9100" in str(item.body))


def _states(am_url: str) -> dict[tuple[str, str], str]:
    alerts = httpx.get(f"{am_url}/api/v2/alerts", timeout=5).json()
    return {
        (a["labels"]["alertname"], a["labels"].get("instance") or a["labels"].get("slo", "")): (
            a["status"]["state"]
        )
        for a in alerts
    }


def test_inhibition_mutes_warnings_symptoms_and_what_follows_from_service_down(
    alertmanager: procs.Server,
) -> None:
    down = dict(job=NODE_JOB, instance="down:9003")
    other = dict(job=NODE_JOB, instance="other:9004")
    slo = dict(slo="inhibition-test")
    alerts = [
        _alert("V11ServiceDown", "critical", "P0", **down),
        _alert("HighErrorRate", "critical", "P0", **down),  # about the target that is down
        _alert("TPSBelowTarget", "critical", "P0", job=NODE_JOB),  # follows from it
        _alert("ConsensusFailure", "critical", "P0", **other),
        _alert("ConsensusLatencyHigh", "warning", "P1", **other),  # its symptom
        _alert("NodeAPIAvailabilityBudgetBurn", "critical", "P0", **slo),  # the page...
        _alert("NodeAPIAvailabilityBudgetBurn", "warning", "P2", short="6h", **slo),  # ...ticket
        _alert("HighGCTime", "warning", "P1", job=NODE_JOB, instance="fine:9005"),
    ]
    procs.post_alerts(alertmanager.url, *alerts)
    want = {
        ("V11ServiceDown", "down:9003"): "active",
        ("HighErrorRate", "down:9003"): "suppressed",
        ("TPSBelowTarget", ""): "suppressed",
        ("ConsensusFailure", "other:9004"): "active",
        ("ConsensusLatencyHigh", "other:9004"): "suppressed",
        ("HighGCTime", "fine:9005"): "active",
    }
    try:
        states = _wait_for_states(alertmanager.url, want)
        assert {k: states.get(k) for k in want} == want
        burn = httpx.get(
            f"{alertmanager.url}/api/v2/alerts",
            params={"filter": 'slo="inhibition-test"'},
            timeout=5,
        ).json()
        by_severity = {a["labels"]["severity"]: a["status"]["state"] for a in burn}
        assert by_severity == {"critical": "active", "warning": "suppressed"}
    finally:
        _resolve(alertmanager.url, alerts)


def _wait_for_states(
    am_url: str, want: dict[tuple[str, str], str], timeout: float = 15.0
) -> dict[tuple[str, str], str]:
    """Alertmanager's view once it matches `want`, or after `timeout` (its state then)."""
    end = time.monotonic() + timeout
    while True:
        states = _states(am_url)
        if all(states.get(k) == v for k, v in want.items()) or time.monotonic() > end:
            return states
        time.sleep(0.1)


def _resolve(am_url: str, alerts: list[dict[str, Any]]) -> None:
    now = datetime.now(UTC).isoformat()
    body = [{**a, "endsAt": now} for a in alerts]
    httpx.post(f"{am_url}/api/v2/alerts", json=body, timeout=5).raise_for_status()


def test_a_stopped_node_pages_v11servicedown_and_its_restart_resolves_it(
    alertmanager: procs.Server, inbox: procs.Inbox, node: NodeProcess, tmp_path: Path
) -> None:
    rules = tmp_path / "rules"
    fast = RuleParams(for_override="1s")  # the production files use 1m
    write_rule_files(rules, render_rule_files(fast, load_slo_spec(SLO_SPEC)))
    target = f"127.0.0.1:{node.port}"
    jobs = [
        {
            "job_name": NODE_JOB,
            "metrics_path": "/q/metrics",
            "static_configs": [
                {"targets": [target], "labels": {"slot": "blue", "version": "1.1.0"}}
            ],
        }
    ]
    with procs.prometheus(tmp_path / "prometheus", rules, alertmanager.url, jobs) as prom:
        # The whole path works before the fault: Watchdog reaches the dead man's switch.
        inbox.wait_for("/deadmans-switch", lambda b: ("Watchdog", "") in _names(b))
        _wait_until_up(prom.url, target)

        node.terminate()
        page = inbox.wait_for("/pager", lambda b: ("V11ServiceDown", target) in _names(b))
        alert = next(a for a in page.body["alerts"] if a["labels"]["instance"] == target)
        labels = {k: alert["labels"][k] for k in ("job", "slot", "version")}
        assert labels == {"job": NODE_JOB, "slot": "blue", "version": "1.1.0"}
        assert alert["annotations"]["runbook_url"] == "docs/runbook.md#v11servicedown"

        node.start().wait_ready()
        inbox.wait_for("/pager", lambda b: ("V11ServiceDown", target) in _names(b, "resolved"))


def _wait_until_up(prom_url: str, target: str, timeout: float = 30.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        result = httpx.get(
            f"{prom_url}/api/v1/query", params={"query": f'up{{instance="{target}"}}'}, timeout=5
        ).json()["data"]["result"]
        if result and result[0]["value"][1] == "1":
            return
        time.sleep(0.2)
    raise AssertionError(f"Prometheus never scraped {target} successfully")
