"""Deploys through the controller's API (its unix socket), for tests that run several deploys on
one stack: one CLI process per status check costs seconds on a loaded machine."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from tests.support.stack import Stack
from v11ops.config import load_config
from v11ops.deploy.client import ControllerClient, ControllerRefused, controller_socket
from v11ops.deploy.state import TERMINAL


@contextmanager
def controller(stack: Stack) -> Iterator[ControllerClient]:
    with ControllerClient(controller_socket(load_config(stack.config))) as client:
        yield client


def deploy(stack: Stack, version: str, timeout_s: float = 150.0) -> dict[str, Any]:
    """Deploy `version` and wait for the outcome: the deployment with steps, events, verdicts.

    A refusal as busy is retried: the previous deployment's task may still be ending after its
    status became final."""
    deadline = time.monotonic() + timeout_s
    with controller(stack) as api:
        while True:
            try:
                dep = api.deploy(version)
                break
            except ControllerRefused as exc:
                if exc.status != 409 or time.monotonic() > deadline:
                    raise
            time.sleep(0.1)
        while (detail := api.deployment(dep))["status"] not in TERMINAL:
            assert time.monotonic() < deadline, f"deployment {dep} did not finish: {detail}"
            time.sleep(0.1)
        return detail


def set_hooks(stack: Stack, hooks: str) -> None:
    """Replace the `hooks:` section (YAML lines under it); the controller reads the file again
    on each deploy."""
    text = stack.config.read_text()
    section = re.compile(r"^hooks:\n(?:[ #].*\n|\n)*", re.M)  # up to the next top-level key
    stack.config.write_text(section.sub(lambda _: "hooks:\n" + hooks, text, count=1))


def explain(stack: Stack, deployment: int) -> dict[str, Any]:
    with controller(stack) as api:
        return api.deployment(deployment)


def live(stack: Stack) -> tuple[str, str]:
    """(slot, version) of the live slot."""
    with controller(stack) as api:
        slots = api.status()["slots"]
    (only,) = [(n, s["version"]) for n, s in slots.items() if s["role"] == "live"]
    return only
