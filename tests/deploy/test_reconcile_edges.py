"""Crash recovery in-process: the controller "dies" at a journal step (the crash hook raises
instead of SIGKILL, leaving the journal exactly as a kill would), a new controller reconciles
over the same state, instances and router. The real-process version is test_crash_recovery.py."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests.deploy.inprocess import Harness, harness, make_harness, stack_yaml
from v11ops.deploy.reconcile import reconcile
from v11ops.runtime import free_port

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class Crash(BaseException):
    """The controller process ends here (nothing after it runs, as with SIGKILL)."""


@contextlib.contextmanager
def crash_at(monkeypatch: pytest.MonkeyPatch, where: str) -> Iterator[None]:
    def maybe_crash(step: str, phase: str) -> None:
        if f"{step}:{phase}" == where:
            raise Crash(where)

    with monkeypatch.context() as m:
        m.setattr("v11ops.deploy.journal.maybe_crash", maybe_crash)
        yield


async def crashed_deploy(
    h: Harness,
    monkeypatch: pytest.MonkeyPatch,
    version: str,
    where: str,
    strategy: str | None = None,
) -> int:
    with crash_at(monkeypatch, where):
        dep = h.ctl.start_deploy(version, strategy)
        assert h.ctl._task is not None
        with pytest.raises(Crash):
            await h.ctl._task
    found = h.ctl.state.deployment(dep)
    assert found is not None and found.status == "running"
    return dep


async def crashed_rollback(h: Harness, monkeypatch: pytest.MonkeyPatch) -> int:
    """1.1.0 live on green, 1.0.0 warm on blue; a manual rollback crashes before switching."""
    await h.deploy("1.0.0")
    await h.deploy("1.1.0")
    with crash_at(monkeypatch, "switch_back:before"):
        dep = h.ctl.start_rollback(None)
        assert h.ctl._task is not None
        with pytest.raises(Crash):
            await h.ctl._task
    return dep


async def recovered(h: Harness, dep: int) -> tuple[str, str | None]:
    await reconcile(h.restart())
    done = h.ctl.state.deployment(dep)
    assert done is not None
    if h.ctl._task is not None:
        await h.ctl.wait_idle()
        done = h.ctl.state.deployment(dep)
        assert done is not None
    assert "recovering" in h.events(dep)
    return done.status, done.reason


@pytest.fixture
async def h(tmp_path: Path) -> AsyncIterator[Harness]:
    made = make_harness(tmp_path / "s")
    yield made
    await made.close()


@pytest.mark.parametrize("where", ["readiness:before", "smoke:after", "switch:before"])
async def test_a_crash_before_the_switch_leaves_traffic_on_the_stable_slot(
    h: Harness, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    await h.deploy("1.0.0")
    dep = await crashed_deploy(h, monkeypatch, "1.1.0", where)
    status, reason = await recovered(h, dep)
    assert status == "aborted"
    assert reason == "controller restarted before the switch completed; rolled back"
    assert h.live() == {"blue": "1.0.0"} and h.roles()["green"] == (None, "idle")
    assert [t.name for t in h.router.table.active] == ["blue"]


async def test_a_crash_between_the_router_call_and_the_journal_sends_traffic_back(
    h: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    await h.deploy("1.0.0")
    dep = await crashed_deploy(h, monkeypatch, "1.1.0", "switch:after")
    assert [t.name for t in h.router.table.active] == ["green"]  # the router had switched
    status, _ = await recovered(h, dep)
    assert status == "aborted"
    assert "traffic_restored" in h.events(dep)
    assert [t.name for t in h.router.table.active] == ["blue"]


async def test_a_first_deploy_that_crashed_after_routing_clears_the_table(
    h: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    dep = await crashed_deploy(h, monkeypatch, "1.0.0", "switch:after")
    status, _ = await recovered(h, dep)
    assert status == "aborted"
    assert h.router.table.targets == () and h.live() == {}


async def test_a_crash_in_the_window_runs_the_window_again_when_the_release_is_healthy(
    h: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    await h.deploy("1.0.0")
    dep = await crashed_deploy(h, monkeypatch, "1.1.0", "post_switch_window:before")
    status, _ = await recovered(h, dep)
    assert status == "succeeded"
    assert h.roles() == {"blue": ("1.0.0", "warm"), "green": ("1.1.0", "live")}


async def test_a_crash_in_the_window_rolls_back_when_the_release_is_unhealthy(
    h: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    await h.deploy("1.0.0")
    dep = await crashed_deploy(h, monkeypatch, "1.1.0", "post_switch_window:before")
    h.nodes.killed.add("green")
    status, reason = await recovered(h, dep)
    assert status == "rolled_back"
    assert reason == "controller restarted and the new release is unhealthy"
    assert h.live() == {"blue": "1.0.0"}


async def test_a_crashed_manual_rollback_is_completed_when_its_target_is_healthy(
    h: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    dep = await crashed_rollback(h, monkeypatch)
    status, reason = await recovered(h, dep)
    assert (status, reason) == ("succeeded", "completed after controller restart")
    assert h.roles() == {"blue": ("1.0.0", "live"), "green": ("1.1.0", "warm")}


@pytest.mark.parametrize("dead", [{"blue"}, {"blue", "green"}], ids=["target", "both"])
async def test_a_crashed_rollback_whose_target_died_keeps_the_previous_release(
    h: Harness, monkeypatch: pytest.MonkeyPatch, dead: set[str]
) -> None:
    dep = await crashed_rollback(h, monkeypatch)
    h.nodes.killed.update(dead)
    revision = h.router.table.revision
    status, reason = await recovered(h, dep)
    assert (status, reason) == ("failed", "rollback target unhealthy after restart")
    assert h.live()["green"] == "1.1.0"
    assert [t.name for t in h.router.table.active] == ["green"]
    if dead == {"blue", "green"}:  # nothing healthy to route to: the table is left alone
        assert h.router.history[-1].revision >= revision


async def test_a_crashed_rolling_deploy_keeps_only_routed_live_instances(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    yaml_text = stack_yaml(strategy="  rolling: {instances: 2, max_surge: 1, batch_window_s: 0}\n")
    async with harness(tmp_path / "r", yaml_text) as h:
        await h.deploy("1.0.0", "rolling")
        dep = await crashed_deploy(h, monkeypatch, "1.1.0", "batch_gates:after", "rolling")
        status, reason = await recovered(h, dep)
        assert status == "aborted"
        assert "keeps its live instances (1.0.0)" in (reason or "")
        assert sorted(h.live().values()) == ["1.0.0", "1.0.0"]
        assert {t.version for t in h.router.table.targets} == {"1.0.0"}
        assert len(h.nodes.instances()) == 2  # the unrouted candidate was stopped


async def test_on_start_a_dead_live_slot_is_restarted_and_routed_again(h: Harness) -> None:
    await h.deploy("1.0.0")
    inst = h.ctl.instance("blue")
    assert inst is not None
    await h.nodes.stop(inst, 0)
    h.router.set_routes(type(h.router.table)(()))
    await reconcile(h.restart())
    assert h.nodes.started[-1] == ("blue", "1.0.0")
    assert [t.name for t in h.router.table.active] == ["blue"]
    assert await h.ctl.healthy("blue")


async def test_on_start_warm_slots_keep_their_timer_and_dead_ones_and_orphans_stop(
    tmp_path: Path,
) -> None:
    async with harness(tmp_path / "w", stack_yaml(scale_down_s=60)) as h:
        await h.deploy("1.0.0")
        await h.deploy("1.1.0")  # blue is warm
        await reconcile(h.restart())
        assert "blue" in h.ctl._scale_downs  # the warm slot keeps counting down
        assert h.roles()["blue"] == ("1.0.0", "warm")

        h.nodes.killed.add("blue")  # the warm instance died while no controller ran
        release = h.ctl.config.release("1.2.0", slot="blue", port=free_port())
        await h.nodes.start("gone-slot", release, release.port)  # no slot owns it
        await reconcile(h.restart())
        assert h.roles()["blue"] == (None, "idle")
        assert "gone-slot" in h.nodes.stopped
        assert [i.slot for i in h.nodes.instances()] == ["green"]
        assert h.live() == {"green": "1.1.0"}


async def test_a_crashed_first_rolling_deploy_routes_nothing_and_says_the_pool_is_empty(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    yaml_text = stack_yaml(strategy="  rolling: {instances: 2, max_surge: 1, batch_window_s: 0}\n")
    async with harness(tmp_path / "r", yaml_text) as h:
        dep = await crashed_deploy(h, monkeypatch, "1.0.0", "batch_gates:after", "rolling")
        status, reason = await recovered(h, dep)
        assert status == "aborted" and "keeps its live instances ()" in (reason or "")
        assert h.router.table.targets == () and h.nodes.instances() == []


async def test_a_live_slot_restarted_on_start_that_is_still_routed_keeps_its_route(
    h: Harness,
) -> None:
    await h.deploy("1.0.0")
    inst = h.ctl.instance("blue")
    assert inst is not None
    await h.nodes.stop(inst, 0)  # the table still names blue (same port after the restart)
    revision = h.router.table.revision
    await reconcile(h.restart())
    assert h.nodes.started[-1] == ("blue", "1.0.0")
    assert h.router.table.revision == revision  # no new table: it already routes to blue
