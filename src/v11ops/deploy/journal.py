"""Journaled steps: a step is written to the state database before it acts."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from v11ops.deploy.crashpoints import maybe_crash
from v11ops.deploy.state import StateDB


class StepFailed(Exception):
    """A step (gate, hook, switch) failed; the message is the reason shown to people."""


class Journal:
    """The journal of one deployment, fenced by the deploy lock's token."""

    def __init__(self, state: StateDB, deployment_id: int, token: int) -> None:
        self.state = state
        self.deployment_id = deployment_id
        self.token = token

    @contextlib.asynccontextmanager
    async def step(self, name: str, detail: Any = None) -> AsyncIterator[dict[str, Any]]:
        """Journal `name`, run the body, then mark it done (or failed with the reason).

        The body may put results into the yielded dict; they are stored with the step.
        """
        seq = self.state.begin_step(self.deployment_id, name, self.token, detail)
        maybe_crash(name, "before")
        result: dict[str, Any] = {}
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
        self.state.event(self.deployment_id, kind, message, **data)
