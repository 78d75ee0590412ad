"""The controller's alert inbox: which alerts count as firing about a release."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

from v11ops.deploy.alerts import AlertInbox, WebhookPayload

NOW = datetime.now(UTC)


def webhook(*alerts: dict[str, Any]) -> WebhookPayload:
    return WebhookPayload.model_validate({"status": "firing", "alerts": list(alerts)})


def alert(
    status: str = "firing",
    severity: str = "critical",
    version: str = "1.1.0",
    started: datetime = NOW,
    ends: str = "0001-01-01T00:00:00Z",
) -> dict[str, Any]:
    return {"status": status, "startsAt": started.isoformat(), "endsAt": ends,
            "fingerprint": f"f-{severity}-{version}",
            "labels": {"alertname": "A", "severity": severity, "slot": "green",
                       "version": version}}  # fmt: skip


def about(inbox: AlertInbox, since: datetime = NOW - timedelta(seconds=5)) -> str | None:
    found = inbox.about("green", "1.1.0", since.timestamp(), ["critical"])
    return found.name if found else None


def test_a_firing_alert_counts_until_it_is_resolved() -> None:
    inbox = AlertInbox()
    assert [a.name for a in inbox.receive(webhook(alert()))] == ["A"]
    assert about(inbox) == "A"
    assert inbox.receive(webhook(alert())) == []  # a repeat changes nothing
    assert [a.name for a in inbox.receive(webhook(alert(status="resolved")))] == ["A"]
    assert about(inbox) is None and inbox.firing() == []


def test_only_alerts_with_the_policy_severity_the_release_labels_and_a_fresh_start_count() -> None:
    inbox = AlertInbox()
    inbox.receive(webhook(
        alert(severity="warning"),
        alert(version="1.0.0"),
        alert(started=NOW - timedelta(hours=1)),
    ))  # fmt: skip
    assert len(inbox.firing()) == 3
    assert about(inbox) is None


def test_an_alert_whose_end_has_passed_is_not_firing() -> None:
    inbox = AlertInbox()
    inbox.receive(webhook(alert(ends=(datetime.now(UTC) - timedelta(seconds=1)).isoformat())))
    assert about(inbox) is None
    inbox.receive(webhook(alert(ends=(datetime.now(UTC) + timedelta(minutes=4)).isoformat())))
    assert about(inbox) == "A"


def test_an_alert_that_ends_without_a_resolved_notification_stops_counting() -> None:
    inbox = AlertInbox()
    soon = datetime.now(UTC) + timedelta(seconds=1)
    inbox.receive(webhook(alert(ends=soon.isoformat())))
    assert about(inbox) == "A"
    time.sleep(max((soon - datetime.now(UTC)).total_seconds(), 0) + 0.05)  # past its end
    assert about(inbox) is None and inbox.firing() == []
