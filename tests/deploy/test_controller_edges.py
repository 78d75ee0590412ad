"""The controller's refusals and blue-green's edge cases, in-process (tests/deploy/inprocess.py):
real controller, journal, gates and window; fake node processes and an in-memory router."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.deploy.inprocess import Behaviour, Harness, harness, make_harness, stack_yaml
from v11ops.deploy.controller import DeployRefused, _holder_is_dead
from v11ops.deploy.journal import StepFailed

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def h(tmp_path: Path) -> AsyncIterator[Harness]:
    made = make_harness(tmp_path / "s", behaviours={"1.2.0": Behaviour(ready=503)})
    yield made
    await made.close()


async def test_a_first_deploy_goes_live_without_a_window_and_a_second_keeps_the_first_warm(
    h: Harness,
) -> None:
    first = await h.deploy("1.0.0")
    assert first.status == "succeeded"
    assert "window_skipped" in h.events(first.id)
    second = await h.deploy("1.1.0")
    assert second.status == "succeeded", second.reason
    assert h.roles() == {"blue": ("1.0.0", "warm"), "green": ("1.1.0", "live")}
    assert [t.name for t in h.router.table.active] == ["green"]
    assert ("post_switch_window", "done") in h.steps(second.id)


async def test_unknown_release_or_strategy_is_refused_and_nothing_starts(h: Harness) -> None:
    with pytest.raises(DeployRefused, match=r"unknown release '9\.9'.*known: 1\.0\.0, 1\.1\.0"):
        h.ctl.start_deploy("9.9")
    with pytest.raises(DeployRefused, match="unknown strategy 'big-bang'"):
        h.ctl.start_deploy("1.0.0", "big-bang")
    assert h.nodes.started == [] and h.ctl.state.deployments() == []


async def test_a_second_deploy_while_one_runs_is_refused_as_busy(h: Harness) -> None:
    dep = h.ctl.start_deploy("1.0.0")
    with pytest.raises(DeployRefused, match="another deploy is in progress") as refused:
        h.ctl.start_deploy("1.1.0")
    assert refused.value.status == 409
    with pytest.raises(DeployRefused, match="another deploy is in progress"):
        h.ctl.start_rollback(None)
    assert (await h.finished(dep)).status == "succeeded"


async def test_promote_and_abort_without_a_deployment_are_refused(h: Harness) -> None:
    for action in (h.ctl.promote, h.ctl.abort):
        with pytest.raises(DeployRefused, match="no deployment") as refused:
            action()
        assert refused.value.status == 409


async def test_a_release_that_never_gets_ready_is_stopped_and_traffic_never_moves(
    h: Harness,
) -> None:
    await h.deploy("1.0.0")
    failed = await h.deploy("1.2.0")
    assert failed.status == "failed"
    assert "readiness" in (failed.reason or "")
    assert h.live() == {"blue": "1.0.0"}
    assert h.roles()["green"] == (None, "idle")
    assert ("stop_candidate", "done") in h.steps(failed.id)
    assert {t.name for t in h.router.table.active} == {"blue"}


async def test_a_release_answering_another_version_fails_smoke_before_the_switch(
    tmp_path: Path,
) -> None:
    async with harness(tmp_path / "s", behaviours={"1.1.0": Behaviour(info_version="1.0.0")}) as h:
        await h.deploy("1.0.0")
        failed = await h.deploy("1.1.0")
        assert failed.status == "failed"
        assert (failed.reason or "").startswith("smoke failed")
        assert h.live() == {"blue": "1.0.0"} and h.roles()["green"] == (None, "idle")


async def test_a_release_whose_process_cannot_start_fails_at_the_start_step(
    tmp_path: Path,
) -> None:
    async with harness(tmp_path / "s", behaviours={"1.1.0": Behaviour(start_fails=True)}) as h:
        await h.deploy("1.0.0")
        failed = await h.deploy("1.1.0")
        assert failed.status == "failed"
        assert failed.reason == "could not start 1.1.0: exec failed for 1.1.0"
        assert h.live() == {"blue": "1.0.0"}


@pytest.mark.parametrize(
    ("dead", "status", "reason", "live"),
    [
        ({"green"}, "rolled_back", "process", {"blue": "1.0.0"}),
        ({"green", "blue"}, "failed", "cannot roll back: slot blue fails its health check",
         {"green": "1.1.0"}),
    ],
    ids=["warm-slot-healthy", "warm-slot-dead-too"],
)  # fmt: skip
async def test_a_release_dying_in_the_window_rolls_back_only_to_a_healthy_warm_slot(
    tmp_path: Path, dead: set[str], status: str, reason: str, live: dict[str, str]
) -> None:
    async with harness(tmp_path / "s", stack_yaml(window_s=5)) as h:
        await h.deploy("1.0.0")
        dep = h.ctl.start_deploy("1.1.0")
        await h.step_began(dep, "post_switch_window")
        h.nodes.killed.update(dead)
        done = await h.finished(dep)
        assert done.status == status
        assert reason in (done.reason or "")
        assert h.live() == live
        assert ("rolled_back" if status == "rolled_back" else "rollback_impossible") in h.events(
            dep
        )


async def test_preview_waits_for_promote_then_switches(tmp_path: Path) -> None:
    yaml_text = stack_yaml().replace(
        "    min_requests: 5\n", "    min_requests: 5\n    preview: true\n"
    )
    async with harness(tmp_path / "s", yaml_text) as h:
        first = h.ctl.start_deploy("1.0.0")
        await h.paused(first)  # a first deploy previews too
        assert h.live() == {} and h.router.table.active == ()
        h.ctl.promote()
        await h.finished(first)
        dep = h.ctl.start_deploy("1.1.0")
        await h.paused(dep)
        assert h.live() == {"blue": "1.0.0"}
        h.ctl.promote()
        done = await h.finished(dep)
        assert done.status == "succeeded"
        assert h.live() == {"green": "1.1.0"}


async def test_abort_during_preview_stops_the_candidate_and_keeps_traffic(tmp_path: Path) -> None:
    yaml_text = stack_yaml().replace(
        "    min_requests: 5\n", "    min_requests: 5\n    preview: true\n"
    )
    async with harness(tmp_path / "s", yaml_text) as h:
        first = h.ctl.start_deploy("1.0.0")
        await h.paused(first)
        h.ctl.promote()
        await h.finished(first)
        dep = h.ctl.start_deploy("1.1.0")
        await h.paused(dep)
        h.ctl.abort()
        aborted = await h.finished(dep)
        assert aborted.status == "aborted"
        assert aborted.reason == "aborted during preview"
        assert h.live() == {"blue": "1.0.0"}
        assert h.roles()["green"] == (None, "idle")


async def test_abort_during_a_gate_stops_it_at_once(tmp_path: Path) -> None:
    # 1.1.0 never gets ready within... ever: readiness would wait out its deadline.
    yaml_text = stack_yaml().replace("deadline_s: 3", "deadline_s: 60")
    async with harness(tmp_path / "s", yaml_text, behaviours={"1.1.0": Behaviour(ready=503)}) as h:
        await h.deploy("1.0.0")
        dep = h.ctl.start_deploy("1.1.0")
        await h.step_began(dep, "readiness")
        h.ctl.abort()
        aborted = await h.finished(dep, timeout_s=10)
        assert aborted.status == "aborted"
        assert aborted.reason == "aborted by the operator"
        assert h.live() == {"blue": "1.0.0"}


async def test_a_crash_inside_a_strategy_ends_the_deployment_failed_and_frees_the_lock(
    h: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    await h.deploy("1.0.0")

    async def broken(self: object) -> None:
        raise KeyError("bug")

    monkeypatch.setattr("v11ops.deploy.bluegreen.BlueGreenRun.run", broken)
    crashed = await h.deploy("1.1.0")
    assert crashed.status == "failed"
    assert crashed.reason == "internal error: KeyError('bug')"
    assert h.ctl.state.lock_info()["holder"] is None
    assert h.ctl.busy is False


async def test_fast_rollback_switches_to_the_warm_slot_and_keeps_the_other_warm(
    h: Harness,
) -> None:
    await h.deploy("1.0.0")
    await h.deploy("1.1.0")
    rb = await h.finished(h.ctl.start_rollback(None))
    assert (rb.kind, rb.strategy, rb.status) == ("rollback", "fast-rollback", "succeeded")
    assert h.roles() == {"blue": ("1.0.0", "live"), "green": ("1.1.0", "warm")}
    # ...and the rollback itself can be undone the same way.
    again = await h.finished(h.ctl.start_rollback("1.1.0"))
    assert again.status == "succeeded" and h.live() == {"green": "1.1.0"}


async def test_rollback_without_a_warm_slot_redeploys_the_last_good_release(
    h: Harness,
) -> None:
    await h.deploy("1.0.0")
    await h.deploy("1.1.0")
    await h.ctl.stop_slot("blue")  # the warm slot was scaled down
    rb = await h.finished(h.ctl.start_rollback(None))
    assert (rb.kind, rb.version, rb.status) == ("deploy", "1.0.0", "succeeded")
    assert h.live() == {"blue": "1.0.0"}


async def test_rollback_with_nothing_earlier_is_refused(h: Harness) -> None:
    await h.deploy("1.0.0")
    with pytest.raises(DeployRefused, match="nothing to roll back to"):
        h.ctl.start_rollback(None)


async def test_a_config_that_no_longer_validates_is_refused_and_the_old_one_stays(
    h: Harness,
) -> None:
    (h.root / "v11ops.yaml").write_text("service: {name: 3\n")
    with pytest.raises(DeployRefused, match="keeps the previous config"):
        h.ctl.start_deploy("1.0.0")
    assert h.ctl.config.service.name == "fake-node"


async def test_a_lock_held_by_a_live_holder_refuses_and_a_dead_ones_is_broken(
    h: Harness,
) -> None:
    here = socket.gethostname()
    h.ctl.state.acquire_lock(f"controller pid=1 host={here}", 60)  # pid 1 is alive
    with pytest.raises(DeployRefused, match="lock") as refused:
        h.ctl.start_deploy("1.0.0")
    assert refused.value.status == 409
    h.ctl.state.release_lock(f"controller pid=1 host={here}", h.ctl.state.lock_info()["token"])
    h.ctl.state.acquire_lock(f"controller pid=999999999 host={here}", 60)
    assert (await h.deploy("1.0.0")).status == "succeeded"


def test_a_lock_holder_is_dead_only_when_it_is_a_gone_process_of_this_host() -> None:
    here = socket.gethostname()
    assert _holder_is_dead(f"controller pid=999999999 host={here}")
    assert not _holder_is_dead(f"controller pid=1 host={here}")
    assert not _holder_is_dead("controller pid=999999999 host=elsewhere.example")
    assert not _holder_is_dead(f"controller pid=abc host={here}")
    assert not _holder_is_dead("someone")


async def test_two_live_slots_refuse_blue_green_and_a_candidate_slot_is_reused(h: Harness) -> None:
    await h.deploy("1.0.0")
    h.ctl.state.set_slot("green", "1.1.0", 1, "live")
    with pytest.raises(DeployRefused, match="2 instances are live"):
        h.ctl.start_deploy("1.1.0")
    h.ctl.state.set_slot("green", None, None, "idle")
    h.ctl.state.set_slot("blue", "1.0.0", 1, "live")
    h.ctl.state.set_slot("green", "1.1.0", 1, "candidate")
    assert h.ctl.pick_candidate_slot() == "green"  # a non-live slot may be reused


async def test_status_reports_slots_routes_and_a_router_that_does_not_answer(h: Harness) -> None:
    await h.deploy("1.0.0")
    status = await h.ctl.status()
    assert status["slots"]["blue"]["alive"] is True
    assert status["router"]["routes"]["targets"][0]["name"] == "blue"
    assert status["last_deployment"]["status"] == "succeeded"
    h.router.fail_reads = True
    status = await h.ctl.status()
    assert status["router"]["routes"] == {"error": "router admin socket is gone"}


async def test_the_warm_slot_is_scaled_down_after_its_delay(tmp_path: Path) -> None:
    async with harness(tmp_path / "s", stack_yaml(scale_down_s=0.2)) as h:
        await h.deploy("1.0.0")
        await h.deploy("1.1.0")
        async with asyncio.timeout(10):
            while h.roles()["blue"][1] != "idle":
                await asyncio.sleep(0.05)
        assert "blue" in h.router.drained and "blue" in h.nodes.stopped
        assert h.live() == {"green": "1.1.0"}


async def test_settle_waits_for_a_finished_deployment_to_release_its_lock(h: Harness) -> None:
    await h.ctl.settle()  # nothing running: returns at once
    dep = h.ctl.start_deploy("1.0.0")
    async with asyncio.timeout(10):
        while (d := h.ctl.state.deployment(dep)) is None or d.status != "succeeded":
            await asyncio.sleep(0.01)
    await h.ctl.settle()
    assert not h.ctl.busy


async def test_an_abortable_gate_returns_its_result_when_not_aborted(h: Harness) -> None:
    async def gate() -> int:
        return 7

    assert await h.ctl.abortable(gate()) == 7
    h.ctl._abort.set()
    with pytest.raises(StepFailed, match="aborted by the operator"):
        await h.ctl.abortable(asyncio.sleep(30))


async def test_healthy_is_false_for_an_unknown_dead_or_unreachable_slot(h: Harness) -> None:
    assert await h.ctl.healthy("blue") is False
    await h.deploy("1.0.0")
    assert await h.ctl.healthy("blue") is True
    inst = h.ctl.instance("blue")
    assert inst is not None
    entry = h.nodes._servers["blue"]
    entry[1].close()
    await entry[1].wait_closed()
    assert await h.ctl.healthy("blue") is False  # alive, but nothing answers
    h.nodes.killed.add("blue")
    assert await h.ctl.healthy("blue") is False


async def test_a_third_deploy_replaces_the_warm_slot_stopping_its_old_instance_first(
    h: Harness,
) -> None:
    await h.deploy("1.0.0")
    await h.deploy("1.1.0")
    third = await h.deploy("1.0.0")
    assert third.status == "succeeded"
    assert "warm_replaced" in h.events(third.id)
    assert h.nodes.stopped == ["blue"]  # the old 1.0.0 instance, before the new one started
    assert h.nodes.started[-1] == ("blue", "1.0.0")
    assert h.roles() == {"blue": ("1.0.0", "live"), "green": ("1.1.0", "warm")}
    explained = h.ctl.explain(third)
    assert [s["name"] for s in explained["steps"]][:2] == ["start", "readiness"]
    assert {v["gate"] for v in explained["verdicts"]} >= {"readiness", "smoke"}


@pytest.mark.parametrize("strategy", ["blue-green", "rolling"])
async def test_a_release_whose_definition_changed_is_refused_and_the_lock_is_freed(
    h: Harness, strategy: str
) -> None:
    await h.deploy("1.1.0", strategy)
    config = h.root / "v11ops.yaml"
    config.write_text(config.read_text().replace('"1.1.0": {}', '"1.1.0": {env: {X: "1"}}'))
    with pytest.raises(DeployRefused, match=r"1\.1\.0"):
        h.ctl.start_deploy("1.1.0", strategy)
    assert h.ctl.state.lock_info()["holder"] is None
    assert (await h.deploy("1.0.0", strategy)).status == "succeeded"


async def test_no_candidate_slot_is_picked_while_every_slot_is_live(h: Harness) -> None:
    # Only a damaged state gets here (a deploy refuses two live slots earlier); the restore
    # rollback also picks a slot, and must refuse rather than replace a live one.
    h.ctl.state.set_slot("blue", "1.0.0", 1, "live")
    h.ctl.state.set_slot("green", "1.1.0", 2, "live")
    with pytest.raises(DeployRefused, match="no slot is free for the new release"):
        h.ctl.pick_candidate_slot()
