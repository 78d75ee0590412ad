"""The default gates of v11ops.yaml against the real V11 node, started by the process runtime."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from v11ops.config import DEFAULT_CONFIG_YAML, Config, load_config
from v11ops.gates import GateResult, HookContext, readiness, run_hooks, smoke
from v11ops.runtime import Instance, ProcessRuntime, StopOutcome, free_port

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]


def default_config(tmp_path: Path, deadline_s: float | None = None) -> Config:
    """The file `v11ops init` writes, plus a release that never becomes ready."""
    text = DEFAULT_CONFIG_YAML.replace(
        '  "1.1.0": {}',
        '  "1.1.0": {}\n  "9.0.0-never-ready":\n    env: {V11_FAULT_NEVER_READY: "1"}',
    )
    if deadline_s is not None:
        commented = "      # deadline_s: 30 "
        assert commented in text
        text = text.replace(commented, f"      deadline_s: {deadline_s} #")
    path = tmp_path / "v11ops.yaml"
    path.write_text(text)
    return load_config(path)


async def start(
    config: Config, runtime: ProcessRuntime, slot: str, version: str
) -> tuple[Instance, GateResult]:
    port = free_port()
    release = config.release(version, slot=slot, port=port)
    instance = await runtime.start(slot, release, port)
    ready = await readiness(
        instance.base_url,
        release.ready_path,
        consecutive_passes=config.strategy.blue_green.readiness.consecutive_passes,
        interval_s=config.strategy.blue_green.readiness.interval_s,
        deadline_s=config.readiness_deadline_s,
        is_alive=lambda: runtime.is_alive(instance),
    )
    return instance, ready


def test_the_default_gates_pass_for_a_good_release_of_the_node(tmp_path: Path) -> None:
    config = default_config(tmp_path)
    runtime = ProcessRuntime(config.state_path)

    async def scenario() -> None:
        started: list[Instance] = []
        try:
            old, old_ready = await start(config, runtime, "blue", "1.0.0")
            started.append(old)
            new, new_ready = await start(config, runtime, "green", "1.1.0")
            started.append(new)
            assert old_ready.passed and new_ready.passed, new_ready.explain()

            checks = await smoke(
                new.base_url, config.gates.smoke, version="1.1.0", config_dir=config.config_dir
            )
            assert checks.passed, checks.explain()
            hooks = await run_hooks(
                "pre_switch",
                config.hooks.pre_switch,
                HookContext(
                    new=new.base_url,
                    version="1.1.0",
                    slot="green",
                    state_dir=str(config.state_path),
                    old=old.base_url,
                    old_version="1.0.0",
                    old_slot="blue",
                ),
            )
            assert hooks.passed, hooks.explain()
            assert hooks.evidence[0].observed == 200
            # The wrong version is caught: the old slot does not run 1.1.0.
            wrong = await smoke(old.base_url, config.gates.smoke[2:3], version="1.1.0")
            assert not wrong.passed
            assert wrong.failures[0].observed == "1.0.0"
        finally:
            for instance in started:
                result = await runtime.stop(instance, config.service.drain_timeout_s)
                assert result.outcome is StopOutcome.TERMINATED

    asyncio.run(scenario())


def test_readiness_fails_for_a_release_that_never_becomes_ready(tmp_path: Path) -> None:
    # Long enough for the node to start and answer 503 even on a loaded machine (a node took
    # over 3 s to start there, and the last poll saw no answer at all).
    config = default_config(tmp_path, deadline_s=10)
    assert config.readiness_deadline_s == 10
    runtime = ProcessRuntime(config.state_path)

    async def scenario() -> None:
        instance, ready = await start(config, runtime, "green", "9.0.0-never-ready")
        try:
            assert not ready.passed
            assert ready.evidence[0].observed == 503
            assert runtime.is_alive(instance)
        finally:
            await runtime.stop(instance, config.service.drain_timeout_s)

    asyncio.run(scenario())
