"""A supervisor keeps watching every slot when checking one of them fails."""

from __future__ import annotations

import asyncio

import pytest

from tests.runtime.programs import ReleaseFactory
from tests.runtime.test_supervisor import Events, FakeRuntime
from v11ops.config import ResolvedRelease
from v11ops.runtime import Instance, Supervisor


@pytest.fixture
def release(make_release: ReleaseFactory) -> ResolvedRelease:
    return make_release(["{python}", "sleep.py"], slot="blue", port=9003)


class FlakyRuntime(FakeRuntime):
    """`is_alive` fails for the blue slot (e.g. /proc unreadable), works for the others."""

    def is_alive(self, instance: Instance) -> bool:
        if instance.slot == "blue":
            raise PermissionError("/proc/1001/stat")
        return super().is_alive(instance)


def test_one_slot_failing_its_check_does_not_stop_the_watch_of_the_others(
    release: ResolvedRelease,
) -> None:
    runtime = FlakyRuntime()
    events = Events()
    now = [0.0]
    supervisor = Supervisor(runtime, on_event=events, clock=lambda: now[0])

    async def scenario() -> None:
        supervisor.watch(await runtime.start("blue", release, 9003), release)
        green = await runtime.start("green", release, 9004)
        supervisor.watch(green, release)
        runtime.crash(green)
        await supervisor.check()
        now[0] += 60
        await supervisor.check()
        assert supervisor.instance("green") != green, "green was restarted all the same"

    asyncio.run(scenario())
    errors = events.of("supervisor_error")
    assert errors[0] == {"slot": "blue", "error": "PermissionError: /proc/1001/stat"}
    assert [e["slot"] for e in events.of("instance_restarted")] == ["green"]
