"""Watchdog: an alert that always fires, so that its absence means the alerting path is broken."""

from __future__ import annotations

from v11ops.monitoring.rules.rulefile import Alert, Group


def watchdog_group() -> Group:
    """Alertmanager sends Watchdog to a dead man's switch, which raises the alarm when the
    heartbeats stop: Prometheus down, rules not evaluated, or Alertmanager not delivering."""
    return Group(
        "meta",
        [
            Alert(
                "Watchdog",
                "vector(1)",
                "0s",
                "info",
                "P2",
                "Heartbeat of the alerting pipeline; it always fires.",
                "Prometheus evaluates rules and Alertmanager delivers them (value {{ $value }}). "
                "Alertmanager routes this alert to the dead man's switch, never to people.",
                "Always firing (mixin convention). If the dead man's switch stops receiving it, "
                "alerts are not evaluated or not delivered.",
            )
        ],
    )
