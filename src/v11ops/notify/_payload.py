"""The two JSON forms a webhook receives: Slack-compatible (text + blocks) and generic."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from v11ops.notify._notice import Notice

_TITLES = {
    "started": (":rocket:", "deploy started"),
    "step": (":arrow_forward:", "step reached"),
    "paused": (":double_vertical_bar:", "paused"),
    "promoted": (":fast_forward:", "promoted"),
    "succeeded": (":white_check_mark:", "deploy succeeded"),
    "rolled_back": (":rewind:", "rolled back"),
    "failed": (":x:", "deploy failed"),
    "aborted": (":octagonal_sign:", "deploy aborted"),
}
_SLACK_TEXT_MAX = 3000  # a section block's text limit


def iso_time(at: float) -> str:
    """`2025-01-31T12:00:00.123Z`"""
    return datetime.fromtimestamp(at, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def generic(notice: Notice) -> dict[str, Any]:
    """One flat JSON object per event."""
    a = notice.about
    return {
        "event": notice.event,
        "journal_event": notice.kind,
        "deployment_id": a.deployment_id,
        "service": notice.service,
        "version": a.version,
        "previous_version": a.previous_version,
        "strategy": a.strategy,
        "message": notice.message,
        "data": dict(notice.data),
        "time": iso_time(notice.at),
    }


def _escape(text: str) -> str:
    # Slack's mrkdwn reserves exactly these three characters.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack(notice: Notice) -> dict[str, Any]:
    """Slack incoming-webhook JSON: `text` (the notification line) and `blocks` (the message)."""
    a = notice.about
    emoji, title = _TITLES[notice.event]
    headline = _escape(" ".join(filter(None, [notice.service, a.version])) + f": {title}")
    message = _escape(notice.message)
    reason = notice.data.get("reason")
    if isinstance(reason, str) and reason not in notice.message:
        message += f"\n_{_escape(reason)}_"
    fields = [
        ("Version", a.version),
        ("Previous", a.previous_version),
        ("Strategy", a.strategy),
        ("Deployment", f"#{a.deployment_id}"),
    ]
    return {
        "text": f"{emoji} {headline}: {message}"[:_SLACK_TEXT_MAX],
        "blocks": [
            {"type": "section", "text": _mrkdwn(f"{emoji} *{headline}*\n{message}")},
            {
                "type": "section",
                "fields": [_mrkdwn(f"*{k}*\n{_escape(v)}") for k, v in fields if v is not None],
            },
            {
                "type": "context",
                "elements": [_mrkdwn(f"v11ops · {notice.event} · {iso_time(notice.at)}")],
            },
        ],
    }


def _mrkdwn(text: str) -> dict[str, str]:
    return {"type": "mrkdwn", "text": text[:_SLACK_TEXT_MAX]}


def payload(form: Literal["slack", "generic"], notice: Notice) -> dict[str, Any]:
    return slack(notice) if form == "slack" else generic(notice)
