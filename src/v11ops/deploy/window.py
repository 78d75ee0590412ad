"""The post-switch window: watch the new slot with real traffic; fail fast on clear evidence."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import httpx

from v11ops.config import TrafficLimits
from v11ops.deploy.traffic import Traffic, WindowTraffic
from v11ops.gates import Evidence, GateResult
from v11ops.router.stats import RouterStats

HEALTH_FAILURES_TO_FAIL = 3
POLL_S = 0.25


async def post_switch_window(
    *,
    slot: str,
    ready_url: str,
    is_alive: Callable[[], bool],
    traffic: Traffic,
    baseline: RouterStats | None,
    policy: TrafficLimits,
    length_s: float,
    alerts: Callable[[], tuple[str, object, str] | None] | None = None,
) -> GateResult:
    """Judge the slot over `length_s`: alive, ready, error rate and p99 from the router's counters,
    and `alerts` (deploy/alerts.py): a firing alert about the new release fails it at once.

    It fails as soon as a limit is broken on enough requests (it does not wait out the window);
    with fewer than `min_requests` the error rate and latency are not judged, and it says so.
    """
    began = time.monotonic()
    health_failures = 0
    observed: WindowTraffic | None = WindowTraffic(0, 0, None)
    async with httpx.AsyncClient(timeout=2.0) as client:
        while True:
            if not is_alive():
                return _result(began, False, "process", "exited", "running", observed, policy)
            alert = alerts() if alerts is not None else None
            if alert is not None:
                return _result(began, False, *alert, observed, policy)
            health_failures = 0 if await _ready(client, ready_url) else health_failures + 1
            if health_failures >= HEALTH_FAILURES_TO_FAIL:
                return _result(
                    began, False, "readiness", f"{health_failures} failed checks", "200", observed,
                    policy,
                )  # fmt: skip
            observed = await traffic.window(slot, baseline)
            broken = None if observed is None else _broken_limit(observed, policy)
            if broken is not None:
                return _result(began, False, *broken, observed, policy)
            if time.monotonic() - began >= length_s:
                return _result(began, True, "window", f"{length_s:g}s", "no limit broken", observed,
                               policy)  # fmt: skip
            await asyncio.sleep(POLL_S)


def _broken_limit(w: WindowTraffic, policy: TrafficLimits) -> tuple[str, str, str] | None:
    if w.requests < policy.min_requests:
        return None
    if w.error_rate is not None and w.error_rate > policy.max_error_rate:
        return ("error_rate", f"{w.error_rate:.4f}", f"<= {policy.max_error_rate}")
    if policy.max_p99_ms is not None and w.p99_s is not None and w.p99_s * 1000 > policy.max_p99_ms:
        return ("p99_ms", f"{w.p99_s * 1000:.1f}", f"<= {policy.max_p99_ms}")
    return None


async def _ready(client: httpx.AsyncClient, url: str) -> bool:
    try:
        return (await client.get(url)).status_code == 200
    except httpx.HTTPError:
        return False


def _result(
    began: float,
    passed: bool,
    check: str,
    observed: object,
    expected: str,
    w: WindowTraffic | None,
    policy: TrafficLimits,
) -> GateResult:
    verdict = Evidence(check=check, observed=observed, expected=expected, passed=passed)
    if w is None:
        note = "this router kind does not count requests per slot: only health was judged"
        unknown = Evidence(check="traffic", observed=None, expected=None, passed=True, note=note)
        return GateResult(
            "post_switch_window", passed, [verdict, unknown], time.monotonic() - began
        )
    judged = w.requests >= policy.min_requests
    traffic_note = f"{w.requests} requests, {w.errors_5xx} 5xx" + (
        "" if judged else f" (fewer than {policy.min_requests}: error rate not judged)"
    )
    evidence = [
        verdict,
        Evidence(
            check="traffic",
            observed={
                "requests": w.requests,
                "errors_5xx": w.errors_5xx,
                "error_rate": w.error_rate,
                "p99_ms": None if w.p99_s is None else round(w.p99_s * 1000, 2),
            },
            expected={
                "max_error_rate": policy.max_error_rate,
                "max_p99_ms": policy.max_p99_ms,
                "min_requests": policy.min_requests,
            },
            passed=passed or check != "error_rate",
            note=traffic_note,
        ),
    ]
    return GateResult("post_switch_window", passed, evidence, time.monotonic() - began)
