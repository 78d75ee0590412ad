"""Test hook: kill the controller at a chosen journal step, to prove crash recovery.

`V11OPS_TEST_CRASH_AT=switch:before` SIGKILLs the controller right after the step `switch` is
journaled and before it acts; `switch:after` right after it acted, before it is marked done.
Unset (the default) it does nothing. The name says what it is: it exists for the crash tests.
"""

from __future__ import annotations

import os
import signal

ENV = "V11OPS_TEST_CRASH_AT"


def maybe_crash(step: str, phase: str) -> None:
    if os.environ.get(ENV) == f"{step}:{phase}":
        os.kill(os.getpid(), signal.SIGKILL)  # pragma: no cover - a killed process saves no data
