"""Fault hooks for testing deployments: a bad release is simulated by its environment, not code.

All are off unless their variable is set:
- V11_FAULT_ERROR_RATE=0.5     answer that fraction of /api/ requests with 500 (nothing stored)
- V11_FAULT_LATENCY_MS=200     add that delay to every /api/ request
- V11_FAULT_READY_DELAY_S=5    report not-ready for that long after storage is open
- V11_FAULT_NEVER_READY=1      never report ready
- V11_FAULT_CRASH_AFTER_S=3    exit abruptly (code 70) that long after becoming ready
"""

from __future__ import annotations

import os
import random
from collections.abc import Mapping
from dataclasses import dataclass


class FaultConfigError(ValueError):
    """A V11_FAULT_* variable holds a value that is not a number in range."""


@dataclass(frozen=True)
class Faults:
    error_rate: float = 0.0
    latency_ms: float = 0.0
    ready_delay_s: float = 0.0
    never_ready: bool = False
    crash_after_s: float | None = None

    @property
    def active(self) -> bool:
        return self != Faults()

    def describe(self) -> dict[str, object]:
        return {k: v for k, v in self.__dict__.items() if v not in (0.0, False, None)}

    def should_fail(self, rng: random.Random) -> bool:
        return self.error_rate > 0 and rng.random() < self.error_rate


def _number(env: Mapping[str, str], name: str, low: float, high: float) -> float | None:
    raw = env.get(name)
    if raw is None or raw == "":
        return None
    try:
        value = float(raw)
    except ValueError:
        raise FaultConfigError(f"{name}={raw!r}: expected a number") from None
    if not low <= value <= high:
        raise FaultConfigError(f"{name}={raw!r}: expected a number from {low} to {high}")
    return value


def faults_from_env(env: Mapping[str, str] | None = None) -> Faults:
    env = os.environ if env is None else env
    return Faults(
        error_rate=_number(env, "V11_FAULT_ERROR_RATE", 0.0, 1.0) or 0.0,
        latency_ms=_number(env, "V11_FAULT_LATENCY_MS", 0.0, 600_000.0) or 0.0,
        ready_delay_s=_number(env, "V11_FAULT_READY_DELAY_S", 0.0, 86_400.0) or 0.0,
        never_ready=env.get("V11_FAULT_NEVER_READY", "").lower() in ("1", "true", "yes"),
        crash_after_s=_number(env, "V11_FAULT_CRASH_AFTER_S", 0.0, 86_400.0),
    )
