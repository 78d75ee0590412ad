"""A failing hook at each deploy point, in real deploys (router, controller, node processes):
pre_deploy fails the deploy before anything starts; a required pre_switch hook stops the new
slot; post_switch rolls back; on_rollback is recorded but cannot stop the rollback."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.gates.servers import running
from tests.notify.api import controller, deploy, live, set_hooks
from tests.support.stack import Stack, make_stack

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

FAIL = '["{python}", "-c", "import sys; sys.exit(3)"]'


class Recorder:
    """An HTTP endpoint that records each call's query and answers `status`."""

    def __init__(self, status: int) -> None:
        self.status = status
        self.calls: list[dict[str, str]] = []
        self._lock = threading.Lock()

    def app(self) -> Starlette:
        async def hook(request: Request) -> Response:
            with self._lock:
                self.calls.append({"path": request.url.path, **request.query_params})
            return Response(status_code=self.status)

        return Starlette(routes=[Route("/{path:path}", hook, methods=["POST"])])


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """One stack for the module; every test starts from 1.0.0 live and sets its own hooks."""
    s = make_stack(tmp_path_factory.mktemp("hook-points") / "stack")
    up = s.cli("up", "--version", "1.0.0")
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        yield s
    finally:
        s.cli("down", timeout=120)


def verdict(detail: dict[str, Any], gate: str) -> dict[str, Any]:
    return next(v for v in detail["verdicts"] if v["gate"] == gate)


def test_a_failing_pre_deploy_hook_fails_the_deploy_before_anything_starts(stack: Stack) -> None:
    set_hooks(stack, f"  pre_deploy:\n    - {{name: freeze, kind: command, command: {FAIL}}}\n")
    before = live(stack)
    detail = deploy(stack, "1.1.0")
    assert detail["status"] == "failed" and detail["reason"].startswith("pre_deploy failed")
    assert [s["name"] for s in detail["steps"]] == ["pre_deploy"]
    assert verdict(detail, "pre_deploy")["evidence"][0]["observed"] == 3
    assert live(stack) == before and stack.served_version() == "1.0.0"
    with controller(stack) as api:
        candidate = api.status()["slots"].get(detail["candidate_slot"])
    assert candidate is None or candidate["pid"] is None


def test_a_failing_required_pre_switch_hook_stops_the_new_slot(stack: Stack) -> None:
    set_hooks(stack, f"  pre_switch:\n    - {{name: yield, kind: command, command: {FAIL}}}\n")
    detail = deploy(stack, "1.1.0")
    assert detail["status"] == "failed" and detail["reason"].startswith("pre_switch failed")
    names = [s["name"] for s in detail["steps"]]
    assert names[-2:] == ["pre_switch", "stop_candidate"] and "switch" not in names
    assert stack.served_version() == "1.0.0"
    with controller(stack) as api:
        assert api.status()["slots"][detail["candidate_slot"]]["alive"] is False


def test_a_failing_post_switch_hook_rolls_back_and_on_rollback_cannot_stop_it(
    stack: Stack,
) -> None:
    recorder = Recorder(status=500)
    with running(recorder.app()) as url:
        set_hooks(stack, f"""\
  post_switch:
    - {{name: purge-cdn, kind: command, command: {FAIL}}}
  on_rollback:
    - name: page
      url: "{url}/rolled-back?to={{version}}&from={{old_version}}&slot={{slot}}"
""")  # fmt: skip
        before = live(stack)
        detail = deploy(stack, "1.1.0")
    assert detail["status"] == "rolled_back"
    assert detail["reason"].startswith("post_switch failed")
    names = [s["name"] for s in detail["steps"]]
    assert names[names.index("switch") :] == [
        "switch", "post_switch", "switch_back", "on_rollback", "stop_candidate"
    ]  # fmt: skip
    assert verdict(detail, "post_switch")["passed"] is False
    assert verdict(detail, "on_rollback")["passed"] is False
    assert any(e["kind"] == "hook_failed" for e in detail["events"])
    assert recorder.calls == [
        {"path": "/rolled-back", "to": "1.0.0", "from": "1.1.0", "slot": before[0]}
    ]
    assert live(stack) == before and stack.served_version() == "1.0.0"
