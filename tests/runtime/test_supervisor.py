"""Supervisor: restart an instance that exits unexpectedly, with backoff; never a stopped one."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import REGISTRY

from tests.runtime.programs import ReleaseFactory, eventually_async
from v11ops.config import ResolvedRelease
from v11ops.runtime import (
    AdoptResult,
    BackoffPolicy,
    Instance,
    ProcessRuntime,
    StopOutcome,
    StopResult,
    Supervisor,
)

pytestmark = pytest.mark.timeout(60)


def restarts_counted(slot: str) -> float:
    value = REGISTRY.get_sample_value("v11ops_instance_restarts_total", {"slot": slot})
    return value or 0.0


@dataclass
class Events:
    seen: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def __call__(self, kind: str, /, **fields: object) -> None:
        self.seen.append((kind, fields))

    def kinds(self) -> list[str]:
        return [kind for kind, _ in self.seen]

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [fields for k, fields in self.seen if k == kind]


# -- the policy and the loop, on a fake runtime and a fake clock ---------------------------------


def test_backoff_doubles_up_to_the_cap() -> None:
    policy = BackoffPolicy(initial_s=0.5, factor=2, max_s=4)
    assert [policy.delay(n) for n in range(6)] == [0.5, 1, 2, 4, 4, 4]


class FakeRuntime:
    """Instances are flags; `crash(slot)` makes the current one exit."""

    def __init__(self) -> None:
        self.alive: dict[str, bool] = {}
        self.stopping: set[str] = set()
        self.started = 0

    async def start(self, slot: str, release: ResolvedRelease, port: int) -> Instance:
        self.started += 1
        instance = Instance(
            id=f"{slot}-{self.started}",
            slot=slot,
            version=release.version,
            pid=1000 + self.started,
            pgid=1000 + self.started,
            port=port,
            start_time=self.started,
            fingerprint=release.fingerprint(),
            started_at=0.0,
            log_path="",
        )
        self.alive[instance.id] = True
        return instance

    async def stop(self, instance: Instance, drain_timeout_s: float) -> StopResult:
        self.stopping.add(instance.id)
        was_alive = self.alive.get(instance.id, False)
        self.alive[instance.id] = False
        outcome = StopOutcome.TERMINATED if was_alive else StopOutcome.ALREADY_EXITED
        return StopResult(outcome, 7, 0.0)

    async def adopt(self) -> AdoptResult:
        return AdoptResult()

    def is_alive(self, instance: Instance) -> bool:
        return self.alive.get(instance.id, False)

    def stop_requested(self, instance: Instance) -> bool:
        return instance.id in self.stopping

    def instances(self) -> list[Instance]:
        return []

    def crash(self, instance: Instance) -> None:
        self.alive[instance.id] = False


@pytest.fixture
def release(make_release: ReleaseFactory) -> ResolvedRelease:
    return make_release(["{python}", "sleep.py"], slot="blue", port=9003)


def test_restarts_back_off_and_reset_after_a_stable_period(release: ResolvedRelease) -> None:
    runtime = FakeRuntime()
    now = [0.0]
    events = Events()
    supervisor = Supervisor(
        runtime,
        on_event=events,
        backoff=BackoffPolicy(initial_s=1, factor=2, max_s=4, reset_after_s=100),
        clock=lambda: now[0],
    )

    async def crash_and_restart(slot: str) -> float:
        """Crash the current instance, let the supervisor notice, then advance to its restart."""
        current = supervisor.instance(slot)
        assert current is not None
        runtime.crash(current)
        await supervisor.check()
        delay: float = events.of("instance_exited")[-1]["restart_in_s"]
        now[0] += delay - 0.01
        await supervisor.check()
        assert supervisor.instance(slot) == current  # not before its time
        now[0] += 0.01
        await supervisor.check()
        assert supervisor.instance(slot) != current
        return delay

    async def scenario() -> None:
        supervisor.watch(await runtime.start("blue", release, 9003), release)
        delays = [await crash_and_restart("blue") for _ in range(4)]
        assert delays == [1, 2, 4, 4]
        now[0] += 100  # stable long enough: the next crash starts from the first delay again
        await supervisor.check()
        assert await crash_and_restart("blue") == 1

    asyncio.run(scenario())
    assert supervisor.restarts("blue") == 5
    exited = events.of("instance_exited")[0]
    assert exited["slot"] == "blue" and exited["exit_code"] == 7
    assert events.of("instance_restarted")[-1]["restarts"] == 5


def test_a_deliberately_stopped_instance_is_not_restarted(release: ResolvedRelease) -> None:
    runtime = FakeRuntime()
    now = [0.0]
    events = Events()
    supervisor = Supervisor(runtime, on_event=events, clock=lambda: now[0])

    async def scenario() -> None:
        # Through the runtime directly: the supervisor sees a requested stop, not a crash.
        first = await runtime.start("blue", release, 9003)
        supervisor.watch(first, release)
        await runtime.stop(first, 0)
        # Through the supervisor.
        second = await runtime.start("green", release, 9004)
        supervisor.watch(second, release)
        result = await supervisor.stop("green", 0)
        assert result is not None and result.outcome is StopOutcome.TERMINATED
        for _ in range(5):
            now[0] += 60
            await supervisor.check()

    asyncio.run(scenario())
    assert runtime.started == 2
    assert events.seen == []
    assert supervisor.instance("blue") is None and supervisor.instance("green") is None


def test_a_failing_restart_is_retried_with_backoff(release: ResolvedRelease) -> None:
    runtime = FakeRuntime()
    now = [0.0]
    events = Events()
    supervisor = Supervisor(
        runtime, on_event=events, backoff=BackoffPolicy(initial_s=1, max_s=8), clock=lambda: now[0]
    )
    real_start = runtime.start
    failures = [RuntimeError("no such file")]

    async def flaky_start(slot: str, rel: ResolvedRelease, port: int) -> Instance:
        if failures:
            raise failures.pop()
        return await real_start(slot, rel, port)

    async def scenario() -> None:
        instance = await runtime.start("blue", release, 9003)
        supervisor.watch(instance, release)
        runtime.start = flaky_start  # type: ignore[method-assign,assignment]
        runtime.crash(instance)
        await supervisor.check()  # exited: restart in 1 s
        now[0] += 1
        await supervisor.check()  # restart fails: retry in 2 s
        now[0] += 2
        await supervisor.check()  # restarted

    asyncio.run(scenario())
    assert events.kinds() == ["instance_exited", "instance_restart_failed", "instance_restarted"]
    assert events.of("instance_restart_failed")[0] == {
        "slot": "blue",
        "error": "no such file",
        "restart_in_s": 2,
    }


# -- with real processes ------------------------------------------------------------------------


def test_a_crashed_instance_is_restarted_and_counted(
    workdir: Path, make_release: ReleaseFactory
) -> None:
    slot = "blue"
    release = make_release(["{python}", "crash_once.py", "{port}", str(workdir / "flag")])
    runtime = ProcessRuntime(workdir / ".v11ops")
    events = Events()
    before = restarts_counted(slot)

    async def scenario() -> None:
        supervisor = Supervisor(
            runtime,
            on_event=events,
            backoff=BackoffPolicy(initial_s=0.05, max_s=0.2),
            check_interval_s=0.02,
        )
        first = await runtime.start(slot, release, 9003)
        supervisor.watch(first, release)
        async with supervisor:
            await eventually_async(lambda: supervisor.restarts(slot) == 1)
            current = supervisor.instance(slot)
            assert current is not None and current.id != first.id
            assert current.port == first.port
            assert runtime.is_alive(current)
            result = await supervisor.stop(slot, drain_timeout_s=5)
            assert result is not None and result.outcome is StopOutcome.TERMINATED

    asyncio.run(scenario())
    assert restarts_counted(slot) - before == 1
    assert events.kinds() == ["instance_exited", "instance_restarted"]
    assert events.of("instance_exited")[0]["exit_code"] == 3
    assert events.of("instance_restarted")[0]["version"] == "1.0.0"
    assert runtime.instances() == []


def test_repeated_crashes_are_restarted_with_growing_delays(
    workdir: Path, make_release: ReleaseFactory
) -> None:
    slot = "green"
    release = make_release(["{python}", "crash.py"], slot=slot)
    runtime = ProcessRuntime(workdir / ".v11ops")
    events = Events()
    before = restarts_counted(slot)

    async def scenario() -> None:
        supervisor = Supervisor(
            runtime,
            on_event=events,
            backoff=BackoffPolicy(initial_s=0.05, factor=2, max_s=0.2, reset_after_s=3600),
            check_interval_s=0.02,
        )
        supervisor.watch(await runtime.start(slot, release, 9004), release)
        async with supervisor:
            await eventually_async(lambda: supervisor.restarts(slot) >= 3)
            supervisor.unwatch(slot)

    asyncio.run(scenario())
    delays = [fields["restart_in_s"] for fields in events.of("instance_exited")]
    assert delays[:4] == [0.05, 0.1, 0.2, 0.2][: len(delays[:4])]
    assert restarts_counted(slot) - before >= 3
