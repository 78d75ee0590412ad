"""`notifications:` webhooks told about deployments (Slack-compatible or generic JSON)."""

from __future__ import annotations

from typing import Annotated, Literal, get_args
from urllib.parse import urlsplit

from pydantic import AfterValidator, Field, field_validator
from pydantic_core import PydanticCustomError

from v11ops.config._base import Model
from v11ops.config._secrets import SECRET, reference_kind, reference_problem

NotifyEvent = Literal[
    "started", "step", "paused", "promoted", "succeeded", "rolled_back", "failed", "aborted"
]
NOTIFY_EVENTS: tuple[NotifyEvent, ...] = get_args(NotifyEvent)


def _check_url(value: str) -> str:
    if reference_kind(value) is not None:
        if problem := reference_problem(value):
            raise PydanticCustomError("reference", problem)
        return value
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise PydanticCustomError(
            "url", "expected an http(s) URL, or an env:NAME or file:PATH reference to one"
        )
    return value


class Webhook(Model):
    """One webhook: where, in which form, for which events, and how hard to try."""

    name: str = Field(min_length=1, description="shown in logs and events instead of the URL")
    format: Literal["slack", "generic"] = Field(
        default="generic",
        description="slack: text + blocks (Slack incoming webhooks, Mattermost, ...); "
        "generic: one JSON object per event",
    )
    url: Annotated[str, AfterValidator(_check_url), SECRET] = Field(
        description="the URL, or env:NAME / file:PATH (a webhook URL is often a credential)"
    )
    headers: Annotated[dict[str, str], SECRET] = Field(
        default_factory=dict, description="values may be env:NAME or file:PATH references"
    )
    events: list[NotifyEvent] = Field(
        default_factory=lambda: list(NOTIFY_EVENTS), min_length=1, description="default: all"
    )
    timeout_s: float = Field(default=5.0, gt=0, description="per attempt")
    retries: int = Field(default=4, ge=0, le=20, description="attempts after the first")
    backoff_s: float = Field(
        default=0.5, gt=0, description="first wait between attempts; doubles, plus jitter"
    )
    max_backoff_s: float = Field(default=8.0, gt=0)
    deadline_s: float = Field(
        default=30.0, gt=0, description="at most this long for one event, all attempts included"
    )

    def credential_in_url(self) -> bool:
        """A literal URL that carries a credential: user info, a query, or a Slack webhook path."""
        if reference_kind(self.url) is not None:
            return False
        parts = urlsplit(self.url)
        return bool(parts.username or parts.query) or self.format == "slack"


class Notifications(Model):
    """Webhooks told about deploy events. Delivery never blocks or fails a rollout."""

    webhooks: list[Webhook] = Field(default_factory=list)
    queue_size: int = Field(
        default=100, ge=1, le=100_000, description="per webhook; when full the oldest is dropped"
    )
    flush_timeout_s: float = Field(
        default=3.0, ge=0, description="at controller shutdown, wait this long for deliveries"
    )

    @field_validator("webhooks")
    @classmethod
    def _names_are_unique(cls, webhooks: list[Webhook]) -> list[Webhook]:
        names = [w.name for w in webhooks]
        if duplicates := sorted({n for n in names if names.count(n) > 1}):
            raise ValueError(f"webhook names must be unique; repeated: {', '.join(duplicates)}")
        return webhooks

    def warnings(self) -> list[str]:
        """Webhook URLs that carry a credential in plaintext (headers: Config.warnings)."""
        return [
            f"notifications.webhooks[{i}].url carries a credential in plaintext; "
            "use env:NAME or file:PATH instead"
            for i, hook in enumerate(self.webhooks)
            if hook.credential_in_url()
        ]
