"""What a notification says: one deployment event, mapped from the journal's event kinds."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from v11ops.config import NotifyEvent

# Journal event kind -> notification event. Kinds not listed (warm_replaced, rolling_back,
# window_skipped, recovering, ...) are internal steps and are not sent.
JOURNAL_EVENTS: Mapping[str, NotifyEvent] = {
    "started": "started",
    "step": "step",  # canary: a weight step reached
    "switched": "step",  # blue-green: all traffic moved to the new slot
    "paused": "paused",
    "promoted": "promoted",
    "succeeded": "succeeded",
    "rolled_back": "rolled_back",
    "failed": "failed",
    "rollback_impossible": "failed",
    "aborted": "aborted",
}


def notification_event(kind: str) -> NotifyEvent | None:
    """The notification event for a journal event kind, or None when it is not sent."""
    return JOURNAL_EVENTS.get(kind)


@dataclass(frozen=True, slots=True)
class About:
    """The deployment an event belongs to."""

    deployment_id: int
    version: str | None = None
    previous_version: str | None = None
    strategy: str | None = None


@dataclass(frozen=True, slots=True)
class Notice:
    event: NotifyEvent
    kind: str  # the journal's own event kind
    about: About
    service: str
    message: str
    data: Mapping[str, Any] = field(default_factory=dict)
    at: float = field(default_factory=time.time)
