"""The readiness gate: N consecutive passes of the ready check within a deadline."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import httpx

from v11ops.gates._http import client_or, describe_failure
from v11ops.gates._result import Evidence, GateResult


def _always_alive() -> bool:
    return True


async def readiness(
    base_url: str,
    ready_path: str = "/q/health/ready",
    *,
    consecutive_passes: int = 3,
    interval_s: float = 0.2,
    deadline_s: float = 30.0,
    is_alive: Callable[[], bool] = _always_alive,
    client: httpx.AsyncClient | None = None,
    request_timeout_s: float = 2.0,
) -> GateResult:
    """Poll `GET {base_url}{ready_path}` every `interval_s` until it answered 200
    `consecutive_passes` times in a row (pass), the deadline passes (fail), or `is_alive()`
    says the instance process exited (fail at once: no point waiting for a dead process)."""
    url = f"{base_url}{ready_path}"
    began = time.monotonic()
    deadline = began + deadline_s
    streak = best = polls = 0
    last: int | str | None = None
    wanted = f">= {consecutive_passes} in a row within {deadline_s:g} s"

    def result(passed: bool, *extra: Evidence) -> GateResult:
        evidence = [
            Evidence(f"GET {url}", last, 200, last == 200, note=f"last of {polls} polls"),
            Evidence(
                "consecutive passes",
                streak if passed else best,
                wanted,
                passed,
                note=f"polled every {interval_s:g} s",
            ),
            *extra,
        ]
        return GateResult("readiness", passed, evidence, time.monotonic() - began)

    async with client_or(client) as http:
        while True:
            if not is_alive():
                return result(
                    False,
                    Evidence("instance process", "exited", "running", False, "see the slot log"),
                )
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return result(False)
            polls += 1
            try:
                response = await http.get(url, timeout=min(request_timeout_s, remaining))
                last = response.status_code
            except httpx.HTTPError as exc:
                last = describe_failure(exc)
            streak = streak + 1 if last == 200 else 0
            best = max(best, streak)
            if streak >= consecutive_passes:
                return result(True)
            await asyncio.sleep(max(0.0, min(interval_s, deadline - time.monotonic())))
