"""Hook gates: an HTTP call or a command, with a timeout; a failing required hook fails."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.gates.servers import Serve
from v11ops.config import CommandHook, HttpHook
from v11ops.gates import HookContext, command_hook, http_hook, run_hooks

pytestmark = pytest.mark.timeout(60)


def context(old: str | None = "http://127.0.0.1:1", new: str = "http://127.0.0.1:2") -> HookContext:
    return HookContext(
        new=new,
        version="1.1.0",
        slot="green",
        state_dir="/tmp/state",
        old=old,
        old_version="1.0.0" if old else None,
        old_slot="blue" if old else None,
    )


def producer_app(status: int, calls: list[str]) -> Starlette:
    async def yield_lease(request: Request) -> Response:
        calls.append(request.url.path)
        return JSONResponse({"yielded": status == 200}, status_code=status)

    return Starlette(routes=[Route("/admin/v11/producer/yield", yield_lease, methods=["POST"])])


def yield_hook(**fields: object) -> HttpHook:
    return HttpHook.model_validate(
        {"name": "producer-yield", "url": "{old}/admin/v11/producer/yield", **fields}
    )


def test_an_http_hook_calls_the_old_slot(serve: Serve) -> None:
    calls: list[str] = []
    old = serve(producer_app(200, calls))
    result = asyncio.run(http_hook(yield_hook(), context(old=old)))
    assert result.passed
    assert calls == ["/admin/v11/producer/yield"]
    assert result.evidence[0].to_dict() == {
        "check": f"POST {old}/admin/v11/producer/yield",
        "observed": 200,
        "expected": "2xx",
        "passed": True,
    }


def test_a_failing_required_hook_fails_and_an_optional_one_does_not(serve: Serve) -> None:
    old = serve(producer_app(500, []))
    required = asyncio.run(http_hook(yield_hook(), context(old=old)))
    assert not required.passed
    assert required.evidence[0].observed == 500
    optional = asyncio.run(http_hook(yield_hook(required=False), context(old=old)))
    assert optional.passed
    assert not optional.evidence[0].passed
    assert optional.evidence[0].note.endswith("not required: the deploy goes on")


def test_a_hook_about_the_old_slot_is_skipped_on_the_first_deploy() -> None:
    result = asyncio.run(http_hook(yield_hook(), context(old=None)))
    assert result.passed
    assert result.evidence[0].note == "skipped: there is no {old} (first deploy)"


def test_a_command_hook_passes_on_exit_code_0_and_fails_otherwise(tmp_path: Path) -> None:
    ok = CommandHook(
        name="ok",
        kind="command",
        command=["{python}", "-c", "print('{version} after {old_version}')"],
    )
    result = asyncio.run(command_hook(ok, context(), config_dir=tmp_path))
    assert result.passed
    assert result.evidence[0].observed == 0

    bad = CommandHook(
        name="bad", kind="command", command=[sys.executable, "-c", "print('no lease'); exit(4)"]
    )
    result = asyncio.run(command_hook(bad, context(), config_dir=tmp_path))
    assert not result.passed
    assert (result.evidence[0].observed, result.evidence[0].expected) == (4, 0)
    assert result.evidence[0].note == "no lease"


def test_a_command_hook_that_hangs_is_killed_at_its_timeout(tmp_path: Path) -> None:
    hang = CommandHook(
        name="hang",
        kind="command",
        command=[sys.executable, "-c", "import time; time.sleep(60)"],
        timeout_s=0.3,
    )
    result = asyncio.run(command_hook(hang, context(), config_dir=tmp_path))
    assert not result.passed
    assert result.evidence[0].observed == "timed out after 0.3 s"


def test_a_missing_command_fails_its_hook(tmp_path: Path) -> None:
    missing = CommandHook(name="x", kind="command", command=["./no-such-hook"])
    result = asyncio.run(command_hook(missing, context(), config_dir=tmp_path))
    assert not result.passed
    assert str(result.evidence[0].observed).startswith("cannot run: ")


def test_hooks_run_in_order_and_stop_at_the_first_required_failure(
    serve: Serve, tmp_path: Path
) -> None:
    calls: list[str] = []
    old = serve(producer_app(503, calls))
    marker = tmp_path / "ran"
    hooks: list[HttpHook | CommandHook] = [
        yield_hook(required=False),
        CommandHook(name="fails", kind="command", command=[sys.executable, "-c", "exit(1)"]),
        CommandHook(
            name="never",
            kind="command",
            command=[sys.executable, "-c", f"open({str(marker)!r}, 'w')"],
        ),
    ]
    result = asyncio.run(run_hooks("pre_switch", hooks, context(old=old), config_dir=tmp_path))
    assert result.name == "pre_switch"
    assert not result.passed
    assert len(result.evidence) == 2
    assert calls == ["/admin/v11/producer/yield"]
    assert not marker.exists()
