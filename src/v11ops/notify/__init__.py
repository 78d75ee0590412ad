"""Notifications: deployment events sent to webhooks, in Slack-compatible or generic JSON.

    notifier = Notifier(lambda: config, state)       # state records failed deliveries
    notifier.publish(About(7, "1.1.0", "1.0.0", "blue-green"), "started", "deploying 1.1.0", {})
    await notifier.aclose()                          # at shutdown: flush, with a deadline

`publish` only enqueues; delivery (retries with backoff and jitter, bounded in attempts and
time) runs in a background task per webhook and never blocks or fails a rollout.
"""

from v11ops.notify._deliver import NOTIFICATIONS, Delivery, Notifier, deliver, redact
from v11ops.notify._notice import JOURNAL_EVENTS, About, Notice, notification_event
from v11ops.notify._payload import generic, payload, slack

__all__ = [
    "JOURNAL_EVENTS",
    "NOTIFICATIONS",
    "About",
    "Delivery",
    "Notice",
    "Notifier",
    "deliver",
    "generic",
    "notification_event",
    "payload",
    "redact",
    "slack",
]
