"""Canary and rolling edge cases in-process (tests/deploy/inprocess.py): abort and promote at each
step, a canary whose window breaks a limit, analysis outcomes, and rolling with max_surge and
max_unavailable at their extremes."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.deploy.inprocess import (
    Behaviour,
    CountingTraffic,
    FakeRouter,
    Harness,
    harness,
    stack_yaml,
)
from v11ops.deploy.traffic import Traffic, WindowTraffic

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


CANARY = """\
  canary:
    min_requests: 5
    scale_down_delay_s: 30
    steps:
      - set_weight: 10
      - pause: {duration_s: 0.2}
      - set_weight: 50
      - pause: {}
"""


def canary_yaml(steps: str = CANARY, top: str = "") -> str:
    return stack_yaml(strategy=steps + "  default: canary\n", top=top)


def rolling_yaml(instances: int, surge: int, unavailable: int, window_s: float = 0.0) -> str:
    return stack_yaml(strategy=f"""\
  rolling:
    instances: {instances}
    max_surge: {surge}
    max_unavailable: {unavailable}
    batch_window_s: {window_s}
    min_requests: 5
""")  # fmt: skip


async def _canary_paused(h: Harness) -> int:
    await h.deploy("1.0.0")
    dep = h.ctl.start_deploy("1.1.0")
    await h.paused(dep)
    return dep


def _weights(h: Harness) -> list[dict[str, int]]:
    return [{t.name: t.weight for t in table.targets} for table in h.router.history]


# -- canary ---------------------------------------------------------------------------------------


async def test_a_canary_paused_until_promote_goes_to_all_traffic_and_keeps_stable_warm(
    tmp_path: Path,
) -> None:
    async with harness(tmp_path / "s", canary_yaml()) as h:
        dep = await _canary_paused(h)
        paused = h.ctl.state.deployment(dep)
        assert (
            paused is not None and paused.reason is not None and "paused at 50 %" in paused.reason
        )
        h.ctl.promote()
        done = await h.finished(dep)
        assert done.status == "succeeded", done.reason
        assert _weights(h)[1:] == [
            {"green": 10, "blue": 90}, {"green": 50, "blue": 50}, {"green": 100, "blue": 0},
            {"green": 100},
        ]  # fmt: skip
        assert h.roles() == {"blue": ("1.0.0", "warm"), "green": ("1.1.0", "live")}
        assert "promoted" in h.events(dep)


async def test_abort_while_a_canary_is_paused_rolls_back_to_the_stable_slot(
    tmp_path: Path,
) -> None:
    async with harness(tmp_path / "s", canary_yaml()) as h:
        dep = await _canary_paused(h)
        h.ctl.abort()
        done = await h.finished(dep)
        assert (done.status, done.reason) == ("aborted", "aborted by the operator")
        assert _weights(h)[-1] == {"blue": 100}
        assert h.live() == {"blue": "1.0.0"} and h.roles()["green"] == (None, "idle")
        assert ("switch_back", "done") in h.steps(dep) and "green" in h.router.drained


async def test_abort_before_the_next_weight_never_raises_it(tmp_path: Path) -> None:
    steps = CANARY.replace("pause: {duration_s: 0.2}", "pause: {duration_s: 5}")
    async with harness(tmp_path / "s", canary_yaml(steps)) as h:
        await h.deploy("1.0.0")
        dep = h.ctl.start_deploy("1.1.0")
        await h.step_began(dep, "pause")
        h.ctl.abort()
        done = await h.finished(dep)
        assert done.status == "aborted"
        assert {"green": 50, "blue": 50} not in _weights(h)
        assert h.live() == {"blue": "1.0.0"}


async def test_a_canary_that_breaks_the_error_rate_is_rolled_back_during_its_pause(
    tmp_path: Path,
) -> None:
    def erroring(router: FakeRouter) -> Traffic:
        return CountingTraffic(router, WindowTraffic(requests=50, errors_5xx=10, p99_s=0.01))

    async with harness(tmp_path / "s", canary_yaml(), traffic=erroring) as h:
        await h.deploy("1.0.0")
        done = await h.deploy("1.1.0")
        assert done.status == "rolled_back"
        assert "error_rate" in (done.reason or "")
        assert h.live() == {"blue": "1.0.0"}
        verdict = h.ctl.state.verdicts(done.id)[-1]
        assert verdict["gate"] == "post_switch_window" and not verdict["passed"]


async def test_a_first_canary_deploy_takes_all_traffic_at_once(tmp_path: Path) -> None:
    async with harness(tmp_path / "s", canary_yaml()) as h:
        first = await h.deploy("1.0.0")
        assert first.status == "succeeded"
        assert "canary_first_deploy" in h.events(first.id)
        assert _weights(h) == [{"blue": 100}]


async def test_a_canary_that_never_gets_ready_is_stopped_before_any_weight(
    tmp_path: Path,
) -> None:
    async with harness(
        tmp_path / "s", canary_yaml(), behaviours={"1.1.0": Behaviour(ready=503)}
    ) as h:
        await h.deploy("1.0.0")
        done = await h.deploy("1.1.0")
        assert done.status == "failed" and "readiness" in (done.reason or "")
        assert _weights(h) == [{"blue": 100}]


async def test_a_stable_slot_that_vanished_rolls_the_canary_back_without_a_switch(
    tmp_path: Path,
) -> None:
    async with harness(tmp_path / "s", canary_yaml()) as h:
        await h.deploy("1.0.0")
        dep = h.ctl.start_deploy("1.1.0")
        await h.step_began(dep, "smoke")
        inst = h.ctl.instance("blue")
        assert inst is not None
        await h.nodes.stop(inst, 0)  # the stable instance is gone before the first weight
        done = await h.finished(dep)
        assert done.status == "rolled_back"
        assert done.reason == "the stable slot blue has no running instance"
        assert "switch_back" not in dict(h.steps(dep))
        assert h.roles()["green"] == (None, "idle")


ANALYSIS_STEPS = """\
  canary:
    min_requests: 1000000
    steps:
      - set_weight: 50
      - analysis: {templates: [unreachable]}
"""


def analysis_top(on_error: str) -> str:
    return f"""\
analysis:
  unreachable:
    checks:
      - name: nothing-answers
        kind: prometheus
        query: up
        address: http://127.0.0.1:9
        success_condition: "result >= 1"
        interval_s: 0.05
        count: 1
        error_limit: 0
        on_error: {on_error}
        timeout_s: 0.5
"""


async def test_a_failed_analysis_rolls_back_and_stores_its_measurement(tmp_path: Path) -> None:
    async with harness(tmp_path / "s", canary_yaml(ANALYSIS_STEPS, analysis_top("failed"))) as h:
        await h.deploy("1.0.0")
        done = await h.deploy("1.1.0")
        assert done.status == "rolled_back"
        assert (done.reason or "").startswith("analysis failed: unreachable:")
        gates = {v["gate"] for v in h.ctl.state.verdicts(done.id)}
        assert "analysis:unreachable" in gates
        assert h.live() == {"blue": "1.0.0"}


async def test_an_inconclusive_analysis_pauses_for_a_human_and_promote_goes_on(
    tmp_path: Path,
) -> None:
    async with harness(
        tmp_path / "s", canary_yaml(ANALYSIS_STEPS, analysis_top("inconclusive"))
    ) as h:
        await h.deploy("1.0.0")
        dep = h.ctl.start_deploy("1.1.0")
        await h.paused(dep)
        paused = h.ctl.state.deployment(dep)
        assert paused is not None and "analysis inconclusive at 50 %" in (paused.reason or "")
        h.ctl.promote()
        done = await h.finished(dep)
        assert done.status == "succeeded" and h.live() == {"green": "1.1.0"}


async def test_top_up_sends_nothing_at_weight_zero(tmp_path: Path) -> None:
    from v11ops.deploy.canary import CanaryRun

    async with harness(tmp_path / "s", canary_yaml()) as h:
        run = CanaryRun.__new__(CanaryRun)
        run.ctl, run.weight = h.ctl, 0
        assert await run.top_up(100) == 0


# -- rolling --------------------------------------------------------------------------------------


async def _pool(h: Harness) -> dict[str, str | None]:
    return {n: v for n, v in h.live().items()}


@pytest.mark.parametrize(
    ("instances", "surge", "unavailable"),
    [(2, 2, 0), (2, 0, 1), (3, 0, 5), (1, 0, 1), (3, 1, 1)],
    ids=["surge-all", "in-place", "unavailable-above-instances", "single-surge-by-one", "mixed"],
)
async def test_rolling_replaces_the_whole_pool_and_never_routes_to_nothing(
    tmp_path: Path, instances: int, surge: int, unavailable: int
) -> None:
    async with harness(tmp_path / "s", rolling_yaml(instances, surge, unavailable)) as h:
        first = await h.deploy("1.0.0", "rolling")
        assert first.status == "succeeded", first.reason
        assert sorted((await _pool(h)).values()) == ["1.0.0"] * instances
        second = await h.deploy("1.1.0", "rolling")
        assert second.status == "succeeded", second.reason
        assert sorted((await _pool(h)).values()) == ["1.1.0"] * instances
        tables = h.router.history
        assert all(t.active for t in tables), "a table with no target dropped every request"
        assert max(len(t.targets) for t in tables) <= instances + max(surge, 1)
        if instances == 1 and surge == 0:
            assert "surge_by_one" in h.events(second.id)


async def test_a_rolling_release_that_fails_its_gates_rolls_the_pool_back(tmp_path: Path) -> None:
    async with harness(tmp_path / "s", rolling_yaml(2, 1, 0),
                     behaviours={"1.2.0": Behaviour(ready=503)}) as h:  # fmt: skip
        await h.deploy("1.0.0", "rolling")
        done = await h.deploy("1.2.0", "rolling")
        assert done.status == "rolled_back"
        assert sorted((await _pool(h)).values()) == ["1.0.0", "1.0.0"]
        assert all(t.version == "1.0.0" for t in h.router.table.targets)


async def test_a_failure_after_old_instances_left_refills_the_pool_with_the_old_release(
    tmp_path: Path,
) -> None:
    async with harness(tmp_path / "s", rolling_yaml(2, 0, 1, window_s=5),
                     behaviours={"1.1.0": Behaviour(dies_after_s=0.8)}) as h:  # fmt: skip
        await h.deploy("1.0.0", "rolling")
        done = await h.deploy("1.1.0", "rolling")
        assert done.status == "rolled_back", done.reason
        assert ("refill", "done") in h.steps(done.id)
        assert sorted((await _pool(h)).values()) == ["1.0.0", "1.0.0"]


async def test_a_refill_that_cannot_start_ends_the_rollback_failed(tmp_path: Path) -> None:
    async with harness(tmp_path / "s", rolling_yaml(2, 0, 1, window_s=5),
                     behaviours={"1.1.0": Behaviour(dies_after_s=0.8)}) as h:  # fmt: skip
        await h.deploy("1.0.0", "rolling")
        h.nodes.behaviours["1.0.0"] = Behaviour(start_fails=True)
        done = await h.deploy("1.1.0", "rolling")
        assert done.status == "failed"
        assert "refilling the pool with 1.0.0 failed" in (done.reason or "")


async def test_abort_during_a_rolling_batch_rolls_the_pool_back(tmp_path: Path) -> None:
    async with harness(tmp_path / "s", rolling_yaml(2, 1, 0, window_s=5)) as h:
        await h.deploy("1.0.0", "rolling")
        dep = h.ctl.start_deploy("1.1.0", "rolling")
        await h.step_began(dep, "batch_window")
        h.ctl.abort()
        # The window is not abortable, the next batch is: the run stops at its next check.
        done = await h.finished(dep, timeout_s=20)
        assert done.status == "aborted"
        assert sorted((await _pool(h)).values()) == ["1.0.0", "1.0.0"]


async def test_a_blue_green_deploy_over_a_rolling_pool_is_refused(tmp_path: Path) -> None:
    from v11ops.deploy.controller import DeployRefused

    async with harness(tmp_path / "s", rolling_yaml(2, 1, 0)) as h:
        await h.deploy("1.0.0", "rolling")
        with pytest.raises(DeployRefused, match=r"2 instances are live.*--strategy rolling"):
            h.ctl.start_deploy("1.1.0", "blue-green")


async def test_rolling_with_no_free_pool_slot_fails_and_says_which_are_busy(
    tmp_path: Path,
) -> None:
    async with harness(tmp_path / "s", rolling_yaml(1, 1, 0)) as h:
        await h.deploy("1.0.0", "rolling")
        h.ctl.state.set_slot("pool-2", "x", 1, "warm")  # an unexpected holder of the spare name
        done = await h.deploy("1.1.0", "rolling")
        assert done.status == "rolled_back"
        assert "no free pool slot for 1 more instances" in (done.reason or "")
        assert (await _pool(h)) == {"pool-1": "1.0.0"}


async def test_rolling_keeps_serving_while_a_slow_batch_is_watched(tmp_path: Path) -> None:
    async with harness(tmp_path / "s", rolling_yaml(2, 1, 0, window_s=0.3)) as h:
        await h.deploy("1.0.0", "rolling")
        dep = h.ctl.start_deploy("1.1.0", "rolling")
        seen: list[int] = []
        while not (h.ctl._task is not None and h.ctl._task.done()):
            seen.append(len(h.router.table.active))
            await asyncio.sleep(0.02)
        assert min(seen) >= 2  # never fewer than instances - max_unavailable
        assert (await h.finished(dep)).status == "succeeded"


async def test_a_successful_analysis_goes_on_and_a_last_step_at_100_is_not_repeated(
    tmp_path: Path,
) -> None:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from tests.gates.servers import running

    async def query(request: Request) -> JSONResponse:
        vector = [{"metric": {}, "value": [0, "1"]}]
        return JSONResponse({"status": "success", "data": {"resultType": "vector",
                                                           "result": vector}})  # fmt: skip

    steps = ANALYSIS_STEPS + "      - set_weight: 100\n"
    with running(Starlette(routes=[Route("/api/v1/query", query)])) as prometheus:
        top = analysis_top("failed").replace("http://127.0.0.1:9", prometheus)
        async with harness(tmp_path / "s", canary_yaml(steps, top)) as h:
            await h.deploy("1.0.0")
            done = await h.deploy("1.1.0")
            assert done.status == "succeeded", done.reason
            assert ("analysis", "done") in h.steps(done.id)
            assert _weights(h)[1:] == [
                {"green": 50, "blue": 50}, {"green": 100, "blue": 0}, {"green": 100},
            ]  # fmt: skip
