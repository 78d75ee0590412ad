"""Notifications in process: the journal's events reach real webhooks on loopback, in Slack and
generic form; unreachable and hanging webhooks are bounded and never raise; secrets stay out."""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from prometheus_client import REGISTRY
from structlog.testing import capture_logs

from tests.notify.conftest import Receiver
from v11ops.config import Config, Webhook, load_config
from v11ops.deploy.journal import Journal
from v11ops.deploy.state import StateDB
from v11ops.notify import About, Notice, Notifier, deliver, redact

pytestmark = pytest.mark.timeout(60)


def config(tmp_path: Path, webhooks: list[dict[str, Any]], **settings: Any) -> Config:
    doc = {
        "service": {"name": "aurigraph-v11-node", "command": ["true"]},
        "releases": {"1.0.0": {}, "1.1.0": {}},
        "notifications": {"webhooks": webhooks, **settings},
    }
    path = tmp_path / "v11ops.yaml"
    path.write_text(yaml.safe_dump(doc))
    return load_config(path)


def count(outcome: str) -> float:
    return REGISTRY.get_sample_value("v11ops_notifications_total", {"outcome": outcome}) or 0.0


def notice(event: Any = "failed", message: str = "deploy failed") -> Notice:
    return Notice(event, event, About(7, "1.1.0", "1.0.0", "blue-green"), "svc", message)


def fast(url: str, **fields: Any) -> Webhook:
    return Webhook.model_validate({"name": "w", "url": url, "backoff_s": 0.01, **fields})


def test_journal_events_arrive_as_slack_and_generic_json(
    tmp_path: Path, receiver: Receiver
) -> None:
    cfg = config(tmp_path, [
        {"name": "ops", "format": "slack", "url": f"{receiver.url}/slack"},
        {"name": "audit", "url": f"{receiver.url}/generic", "events": ["started", "rolled_back"]},
    ])  # fmt: skip
    state = StateDB(tmp_path / "state.db")

    async def deploy() -> int:
        notifier = Notifier(lambda: cfg, state)
        token = state.acquire_lock("test", 60)
        dep = state.create_deployment("1.1.0", "1.0.0", "blue-green", "deploy", "green", "blue",
                                      token)  # fmt: skip
        j = Journal(state, dep, token, notifier)
        j.event("started", "deploying 1.1.0 to slot green", stable="blue")
        j.event("warm_replaced", "internal: not sent")
        j.event("switched", "all traffic on green (1.1.0)", took_ms=0.4)
        j.event("rolled_back", "all traffic on blue (1.0.0)", reason="error rate <b>0.5</b> & up")
        await notifier.aclose(timeout_s=30)
        return dep

    dep = asyncio.run(deploy())
    state.close()
    generic = receiver.bodies("/generic")
    assert [g["event"] for g in generic] == ["started", "rolled_back"]
    first = generic[0]
    assert {k: first[k] for k in ("deployment_id", "service", "version", "previous_version",
                                  "strategy", "message", "data")} == {
        "deployment_id": dep, "service": "aurigraph-v11-node", "version": "1.1.0",
        "previous_version": "1.0.0", "strategy": "blue-green",
        "message": "deploying 1.1.0 to slot green", "data": {"stable": "blue"},
    }  # fmt: skip
    assert datetime.fromisoformat(first["time"]).tzinfo is not None
    assert generic[1]["data"]["reason"] == "error rate <b>0.5</b> & up"

    slack = receiver.bodies("/slack")
    assert len(slack) == 3  # started, switched (a step), rolled_back
    assert "aurigraph-v11-node 1.1.0: deploy started" in slack[0]["text"]
    assert "step reached" in slack[1]["text"]
    rolled = slack[2]
    assert "rolled back" in rolled["text"]
    assert [b["type"] for b in rolled["blocks"]] == ["section", "section", "context"]
    assert "error rate &lt;b&gt;0.5&lt;/b&gt; &amp; up" in rolled["blocks"][0]["text"]["text"]
    fields = [f["text"] for f in rolled["blocks"][1]["fields"]]
    assert fields == ["*Version*\n1.1.0", "*Previous*\n1.0.0", "*Strategy*\nblue-green",
                      f"*Deployment*\n#{dep}"]  # fmt: skip


def test_an_unreachable_webhook_gives_up_after_its_retries(closed_port: int) -> None:
    hook = fast(f"http://127.0.0.1:{closed_port}/hook", retries=2, deadline_s=30)

    async def go() -> Any:
        async with httpx.AsyncClient() as client:
            return await deliver(client, hook, notice(), config_dir=Path.cwd())

    result = asyncio.run(go())
    assert not result.delivered
    assert result.attempts == 3
    assert result.error.startswith("ConnectError")


def test_a_hanging_webhook_is_cut_off_by_its_deadline(hanging_port: int) -> None:
    hook = fast(f"http://127.0.0.1:{hanging_port}/hook", timeout_s=0.3, retries=10, deadline_s=1)

    async def go() -> Any:
        async with httpx.AsyncClient() as client:
            return await deliver(client, hook, notice(), config_dir=Path.cwd())

    result = asyncio.run(go())
    assert not result.delivered
    assert 1 <= result.attempts < 11  # the deadline ended it, not the retries
    assert result.error.startswith("no answer within")


def test_a_refusing_webhook_is_not_retried(receiver: Receiver) -> None:
    receiver.status = 404
    hook = fast(f"{receiver.url}/gone", retries=5)

    async def go() -> Any:
        async with httpx.AsyncClient() as client:
            return await deliver(client, hook, notice(), config_dir=Path.cwd())

    result = asyncio.run(go())
    assert (result.delivered, result.attempts, result.error) == (False, 1, "HTTP 404")


def test_a_full_queue_drops_the_oldest_and_shutdown_drops_what_is_left(
    tmp_path: Path, receiver: Receiver, hanging_port: int
) -> None:
    cfg = config(tmp_path, [
        {"name": "live", "url": f"{receiver.url}/live"},
        {"name": "stuck", "url": f"http://127.0.0.1:{hanging_port}/hook", "timeout_s": 30},
    ], queue_size=2)  # fmt: skip
    dropped = count("dropped")

    async def burst() -> None:
        notifier = Notifier(lambda: cfg)
        for i in range(5):  # publish never waits: all five are queued before any is sent
            notifier.publish(About(1), "failed", f"failure {i}", {})
        await notifier.aclose(timeout_s=2)

    asyncio.run(burst())
    assert [b["message"] for b in receiver.bodies("/live")] == ["failure 3", "failure 4"]
    # 3 pushed out of each full queue; 2 still queued (or in flight) for "stuck" at shutdown.
    assert count("dropped") - dropped == 3 + 3 + 2


def test_webhook_secrets_never_reach_logs_or_events(
    tmp_path: Path, closed_port: int, hanging_port: int
) -> None:
    (tmp_path / "hook-url").write_text(f"http://127.0.0.1:{hanging_port}/h?token=sekrit-query\n")
    cfg = config(tmp_path, [
        {"name": "slack", "format": "slack", "retries": 1, "backoff_s": 0.01,
         "url": f"http://user:sekrit-pass@127.0.0.1:{closed_port}/services/T0/B0/sekrit-path"},
        {"name": "ref", "url": "file:hook-url", "timeout_s": 0.2, "retries": 1, "deadline_s": 1},
    ])  # fmt: skip
    state = StateDB(tmp_path / "state.db")
    failed = count("failed")

    async def run() -> None:
        notifier = Notifier(lambda: cfg, state)
        notifier.publish(About(3), "failed", "deploy failed", {})
        await notifier.aclose(timeout_s=20)

    with capture_logs() as logs:
        asyncio.run(run())
    events = state.events(3)
    state.close()
    assert count("failed") - failed == 2
    assert sorted(e["data"]["webhook"] for e in events) == ["ref", "slack"]
    assert all(e["kind"] == "notification_failed" for e in events)
    text = repr(logs) + repr(events)
    assert "notification not delivered" in text
    assert "sekrit" not in text


def test_redact_hides_every_part_of_a_url_that_may_hold_a_credential() -> None:
    url = "https://u:pw@hooks.example/services/T0/B0/tok?sig=abc"
    text = f"failed: {url}; path /services/T0/B0/tok?sig=abc; host u:pw@hooks.example; sig=abc"
    assert all(s not in redact(text, url) for s in ("tok", "pw", "sig=abc"))
