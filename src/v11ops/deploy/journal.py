"""Journaled steps: a step is written to the state database before it acts. Events go to the
deployment's timeline and, when a webhook takes them, to the notifier."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from v11ops.deploy.crashpoints import maybe_crash
from v11ops.deploy.state import StateDB
from v11ops.notify import About, Notifier


class StepFailed(Exception):
    """A step (gate, hook, switch) failed; the message is the reason shown to people."""


class Journal:
    """The journal of one deployment, fenced by the deploy lock's token."""

    def __init__(
        self, state: StateDB, deployment_id: int, token: int, notifier: Notifier | None = None
    ) -> None:
        self.state = state
        self.deployment_id = deployment_id
        self.token = token
        self.notifier = notifier
        self._about: About | None = None

    @contextlib.asynccontextmanager
    async def step(self, name: str, detail: Any = None) -> AsyncIterator[dict[str, Any]]:
        """Journal `name`, run the body, then mark it done (or failed with the reason).

        The body may put results into the yielded dict; they are stored with the step.
        """
        seq = self.state.begin_step(self.deployment_id, name, self.token, detail)
        maybe_crash(name, "before")
        # The end record keeps what the step started with, plus what it found.
        result: dict[str, Any] = dict(detail) if isinstance(detail, dict) else {}
        try:
            yield result
        except StepFailed as exc:
            self.state.end_step(self.deployment_id, seq, "failed", {**result, "reason": str(exc)})
            raise
        except BaseException as exc:
            self.state.end_step(self.deployment_id, seq, "failed", {**result, "error": repr(exc)})
            raise
        maybe_crash(name, "after")
        self.state.end_step(self.deployment_id, seq, "done", result or None)

    def event(self, kind: str, message: str, **data: Any) -> None:
        """Record an event; notify webhooks (enqueue only: this runs on the controller's loop)."""
        self.state.event(self.deployment_id, kind, message, **data)
        if self.notifier is not None and self.notifier.wants(kind):
            self.notifier.publish(self.about(), kind, message, data)

    def about(self) -> About:
        """The deployment's version, previous version and strategy (read once)."""
        if self._about is None:
            dep = self.state.deployment(self.deployment_id)
            self._about = About(
                self.deployment_id,
                dep.version if dep else None,
                dep.previous_version if dep else None,
                dep.strategy if dep else None,
            )
        return self._about
