"""Hooks at each deploy point, the journal's failure records and notifications, and the
post-switch window's limits, in-process (tests/deploy/inprocess.py). Hooks are real commands."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.deploy.inprocess import FakeRouter, harness, stack_yaml
from v11ops.config import load_config
from v11ops.deploy.journal import Journal, StepFailed
from v11ops.deploy.state import StateDB
from v11ops.deploy.traffic import Traffic, WindowTraffic
from v11ops.deploy.window import post_switch_window

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def command_hook(name: str, code: int, marker: Path | None = None) -> str:
    """A command hook that records {version} in `marker` and exits with `code`."""
    script = (
        f"import sys; open({str(marker)!r}, 'a').write(sys.argv[1] + chr(10))" if marker else ""
    )
    script += f"; sys.exit({code})" if script else f"import sys; sys.exit({code})"
    return (
        f'    - {{name: {name}, kind: command, command: ["{sys.executable}", "-c", '
        f'"{script}", "{{version}}"], timeout_s: 10}}\n'
    )


async def test_a_failing_pre_deploy_hook_fails_the_deploy_before_anything_starts(
    tmp_path: Path,
) -> None:
    hooks = "  pre_deploy:\n" + command_hook("gate", 3)
    async with harness(tmp_path / "s", stack_yaml(hooks=hooks)) as h:
        done = await h.deploy("1.0.0")
        assert done.status == "failed"
        assert "pre_deploy failed" in (done.reason or "") and "observed 3, expected 0" in (
            done.reason or ""
        )
        assert h.nodes.started == [] and h.roles() == {}
        assert ("pre_deploy", "failed") in h.steps(done.id)


async def test_a_failing_post_switch_hook_rolls_back_and_a_failing_on_rollback_cannot_stop_it(
    tmp_path: Path,
) -> None:
    marker = tmp_path / "on_rollback.txt"
    hooks = (
        "  post_switch:\n" + command_hook("check", 1)
        + "  on_rollback:\n" + command_hook("page", 5, marker)
    )  # fmt: skip
    async with harness(tmp_path / "s", stack_yaml(hooks=hooks)) as h:
        await h.deploy("1.0.0")  # a first deploy has no window: post_switch does not run
        done = await h.deploy("1.1.0")
        assert done.status == "rolled_back"
        assert h.live() == {"blue": "1.0.0"}
        assert marker.read_text() == "1.0.0\n"  # on_rollback ran with the restored release
        assert ("on_rollback", "failed") in h.steps(done.id)
        assert "hook_failed" in h.events(done.id)


async def test_a_failing_pre_step_hook_rolls_a_canary_back_before_its_first_weight(
    tmp_path: Path,
) -> None:
    strategy = "  default: canary\n  canary:\n    steps: [{set_weight: 20}]\n"
    hooks = "  pre_step:\n" + command_hook("ask", 1)
    async with harness(tmp_path / "s", stack_yaml(strategy=strategy, hooks=hooks)) as h:
        await h.deploy("1.0.0")
        done = await h.deploy("1.1.0")
        assert done.status == "rolled_back"
        assert [{t.name: t.weight for t in tb.targets} for tb in h.router.history] == [
            {"blue": 100}, {"blue": 100},
        ]  # fmt: skip


async def test_a_failed_step_records_its_reason_and_an_error_records_its_type(
    tmp_path: Path,
) -> None:
    async with harness(tmp_path / "s") as h:
        token = h.ctl.acquire_lock()
        dep = h.ctl.state.create_deployment("1.0.0", None, "blue-green", "deploy", "blue", None,
                                            token)  # fmt: skip
        j = Journal(h.ctl.state, dep, token)
        with pytest.raises(StepFailed):
            async with j.step("readiness", {"slot": "blue"}):
                raise StepFailed("not ready in 1s")
        with pytest.raises(ValueError):
            async with j.step("switch"):
                raise ValueError("boom")
        steps = h.ctl.state.steps(dep)
        assert [(s["name"], s["status"]) for s in steps] == [
            ("readiness", "failed"), ("switch", "failed"),
        ]  # fmt: skip
        text = str(steps)
        assert (
            "not ready in 1s" in text and "ValueError('boom')" in text and "'slot': 'blue'" in text
        )
        about = j.about()
        assert (about.version, about.strategy) == ("1.0.0", "blue-green")
        assert about.previous_version is None
        assert j.about() is about


async def test_journal_about_a_deployment_that_does_not_exist_is_empty(tmp_path: Path) -> None:
    (tmp_path / "v11ops.yaml").write_text(stack_yaml())
    state = StateDB(tmp_path / "state.db")
    try:
        about = Journal(state, 404, 1).about()
        assert (about.version, about.previous_version, about.strategy) == (None, None, None)
    finally:
        state.close()


# -- the post-switch window -----------------------------------------------------------------------


class Counts(Traffic):
    """Traffic with per-slot counters given by the test (the builtin router's job)."""

    def __init__(self, counts: WindowTraffic | None) -> None:
        super().__init__(FakeRouter())
        self.counts = counts

    async def window(self, slot: str, since: object) -> WindowTraffic | None:
        return self.counts


def limits(tmp_path: Path, extra: str = "") -> object:
    (tmp_path / "v11ops.yaml").write_text(
        stack_yaml().replace("    min_requests: 5\n", "    min_requests: 5\n" + extra)
    )
    return load_config(tmp_path / "v11ops.yaml").strategy.blue_green


async def _window(
    tmp_path: Path, counts: WindowTraffic | None, extra: str = "", alive: bool = True,
    ready_url: str | None = None, alerts: object = None, length_s: float = 0.2,
) -> object:  # fmt: skip
    async with harness(tmp_path / "n") as h:
        await h.deploy("1.0.0")
        inst = h.ctl.instance("blue")
        assert inst is not None
        return await post_switch_window(
            slot="blue", ready_url=ready_url or inst.base_url + "/q/health/ready",
            is_alive=lambda: alive, traffic=Counts(counts), baseline=None,
            policy=limits(tmp_path, extra), length_s=length_s, alerts=alerts,  # type: ignore[arg-type]
        )  # fmt: skip


async def test_the_window_fails_on_an_error_rate_above_the_limit(tmp_path: Path) -> None:
    result = await _window(tmp_path, WindowTraffic(100, 5, 0.01), length_s=30)
    assert not result.passed  # type: ignore[attr-defined]
    first = result.evidence[0]  # type: ignore[attr-defined]
    assert (first.check, first.observed) == ("error_rate", "0.0500")


async def test_the_window_fails_on_a_p99_above_the_limit(tmp_path: Path) -> None:
    result = await _window(
        tmp_path, WindowTraffic(100, 0, 0.5), "    max_p99_ms: 100\n", length_s=30
    )
    assert not result.passed  # type: ignore[attr-defined]
    assert result.evidence[0].check == "p99_ms"  # type: ignore[attr-defined]


async def test_the_window_does_not_judge_too_few_requests_and_says_so(tmp_path: Path) -> None:
    result = await _window(tmp_path, WindowTraffic(3, 3, 0.5), "    max_p99_ms: 100\n")
    assert result.passed  # type: ignore[attr-defined]
    assert "error rate not judged" in result.evidence[1].note  # type: ignore[attr-defined]


async def test_a_router_that_does_not_count_judges_health_only_and_says_so(tmp_path: Path) -> None:
    result = await _window(tmp_path, None)
    assert result.passed  # type: ignore[attr-defined]
    assert "only health was judged" in result.evidence[1].note  # type: ignore[attr-defined]


async def test_the_window_fails_after_three_failed_health_checks(tmp_path: Path) -> None:
    result = await _window(tmp_path, None, ready_url="http://127.0.0.1:9/q/health/ready",
                           length_s=30)  # fmt: skip
    assert not result.passed  # type: ignore[attr-defined]
    assert result.evidence[0].check == "readiness"  # type: ignore[attr-defined]


async def test_a_firing_alert_fails_the_window_at_once(tmp_path: Path) -> None:
    def alert() -> tuple[str, object, str]:
        return ("alert", "V11HighErrorRate firing", "no firing alert")

    result = await _window(tmp_path, None, alerts=alert, length_s=30)
    assert not result.passed  # type: ignore[attr-defined]
    assert result.evidence[0].observed == "V11HighErrorRate firing"  # type: ignore[attr-defined]
