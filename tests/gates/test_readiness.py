"""The readiness gate: N consecutive 200s within a deadline; fails early if the process exits."""

from __future__ import annotations

import asyncio
import json

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.gates.servers import Serve
from v11ops.gates import GateResult, readiness
from v11ops.runtime import free_port

pytestmark = pytest.mark.timeout(60)


def scripted(statuses: list[int], then: int) -> tuple[Starlette, list[int]]:
    """An app whose ready check answers `statuses` in order, then `then` forever."""
    answered: list[int] = []

    async def ready(request: Request) -> Response:
        status = statuses[len(answered)] if len(answered) < len(statuses) else then
        answered.append(status)
        return JSONResponse({"status": "UP" if status == 200 else "DOWN"}, status_code=status)

    return Starlette(routes=[Route("/q/health/ready", ready)]), answered


def run(base_url: str, **kwargs: object) -> GateResult:
    options: dict[str, object] = {"consecutive_passes": 3, "interval_s": 0.01, "deadline_s": 20}
    options.update(kwargs)
    return asyncio.run(readiness(base_url, "/q/health/ready", **options))  # type: ignore[arg-type]


def test_passes_after_n_consecutive_passes(serve: Serve) -> None:
    app, answered = scripted([503, 503], then=200)
    result = run(serve(app))
    assert result.passed
    assert answered == [503, 503, 200, 200, 200]
    assert result.name == "readiness"
    assert result.evidence[1].to_dict() == {
        "check": "consecutive passes",
        "observed": 3,
        "expected": ">= 3 in a row within 20 s",
        "passed": True,
        "note": "polled every 0.01 s",
    }
    json.dumps(result.to_dict())  # storable in the journal as it is


def test_a_failure_restarts_the_count(serve: Serve) -> None:
    app, answered = scripted([200, 200, 503], then=200)
    assert run(serve(app)).passed
    assert answered == [200, 200, 503, 200, 200, 200]


def test_fails_at_the_deadline_when_never_ready(serve: Serve) -> None:
    app, _ = scripted([200], then=503)
    result = run(serve(app), deadline_s=0.3, interval_s=0.02)
    assert not result.passed
    last, streak = result.evidence
    assert (last.observed, last.expected, last.passed) == (503, 200, False)
    assert (streak.observed, streak.expected) == (1, ">= 3 in a row within 0.3 s")
    assert result.summary().startswith("readiness failed: FAIL GET ")


def test_fails_at_once_when_the_instance_process_exits(serve: Serve) -> None:
    app, answered = scripted([], then=503)
    checks = iter([True, True, False])
    result = run(serve(app), deadline_s=600, is_alive=lambda: next(checks))
    assert not result.passed
    assert len(answered) == 2
    assert result.evidence[-1].to_dict() == {
        "check": "instance process",
        "observed": "exited",
        "expected": "running",
        "passed": False,
        "note": "see the slot log",
    }


def test_a_refused_connection_is_a_failed_poll() -> None:
    result = run(f"http://127.0.0.1:{free_port()}", deadline_s=0.2, interval_s=0.02)
    assert not result.passed
    assert result.evidence[0].observed == "connection refused"
