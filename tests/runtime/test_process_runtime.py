"""ProcessRuntime: start, stop with SIGTERM then SIGKILL, adopt after a restart, reap orphans."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.runtime.programs import ReleaseFactory, eventually
from v11ops.runtime import (
    Instance,
    InstanceStartError,
    ProcessRuntime,
    Runtime,
    StopOutcome,
    free_port,
)
from v11ops.runtime import _procfs as procfs

pytestmark = pytest.mark.timeout(60)


def answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=0.5, trust_env=False).status_code == 200
    except httpx.HTTPError:
        return False


def test_process_runtime_implements_the_runtime_protocol(workdir: Path) -> None:
    assert isinstance(ProcessRuntime(workdir / ".v11ops"), Runtime)


def test_start_runs_the_release_in_its_own_group_with_a_slot_log_and_a_record(
    workdir: Path, make_release: ReleaseFactory
) -> None:
    port = free_port()
    release = make_release(["{python}", "http_server.py", "{port}"], slot="green", port=port)
    runtime = ProcessRuntime(workdir / ".v11ops")

    async def scenario() -> None:
        instance = await runtime.start("green", release, port)
        assert instance.pgid == instance.pid == os.getpgid(instance.pid)
        assert instance.start_time == procfs.start_time(instance.pid)
        assert (instance.slot, instance.version, instance.port) == ("green", "1.0.0", port)
        assert instance.fingerprint == release.fingerprint()
        assert runtime.is_alive(instance)
        await asyncio.to_thread(eventually, lambda: answers(f"{instance.base_url}/"))

        record = json.loads((workdir / ".v11ops" / "instances" / f"{instance.id}.json").read_text())
        assert record["pid"] == instance.pid
        assert record["start_time"] == instance.start_time
        assert record["fingerprint"] == release.fingerprint()

        log = (workdir / ".v11ops" / "logs" / "green.log").read_text()
        header = json.loads(log.splitlines()[0])  # a JSON line like the node's own, for jq
        assert header["log.logger"] == "v11ops.runtime"
        assert header["message"].startswith("starting slot green release 1.0.0 on port")

        result = await runtime.stop(instance, drain_timeout_s=10)
        assert result.outcome is StopOutcome.TERMINATED
        assert result.exit_code == -signal.SIGTERM
        assert not runtime.is_alive(instance)
        assert runtime.instances() == []
        assert list((workdir / ".v11ops" / "instances").iterdir()) == []
        assert "GET / HTTP" in (workdir / ".v11ops" / "logs" / "green.log").read_text()

    asyncio.run(scenario())


def test_stop_escalates_to_sigkill_when_sigterm_is_ignored(
    workdir: Path, make_release: ReleaseFactory
) -> None:
    ready = workdir / "ready"
    release = make_release(["{python}", "ignore_term.py", "{port}", str(ready)])
    runtime = ProcessRuntime(workdir / ".v11ops")

    async def scenario() -> None:
        instance = await runtime.start("blue", release, 1)
        await asyncio.to_thread(eventually, ready.exists)
        result = await runtime.stop(instance, drain_timeout_s=0.3)
        assert result.outcome is StopOutcome.KILLED
        assert result.exit_code == -signal.SIGKILL
        assert procfs.group_members(instance.pgid) == []

    asyncio.run(scenario())


def test_a_helper_left_in_the_group_is_killed_too(
    workdir: Path, make_release: ReleaseFactory
) -> None:
    ready = workdir / "helper-ready"
    release = make_release(["{python}", "leaves_helper.py", "{port}", str(ready)])
    runtime = ProcessRuntime(workdir / ".v11ops")

    async def scenario() -> None:
        instance = await runtime.start("blue", release, 1)
        await asyncio.to_thread(eventually, ready.exists)
        assert len(procfs.group_members(instance.pgid)) == 2
        result = await runtime.stop(instance, drain_timeout_s=0.3)
        # The leader went on SIGTERM, its helper did not: the group needed SIGKILL.
        assert result.outcome is StopOutcome.KILLED
        assert procfs.group_members(instance.pgid) == []

    asyncio.run(scenario())


def test_stopping_an_instance_that_already_exited_reports_it(
    workdir: Path, make_release: ReleaseFactory
) -> None:
    release = make_release(["{python}", "crash.py"])
    runtime = ProcessRuntime(workdir / ".v11ops")

    async def scenario() -> None:
        instance = await runtime.start("blue", release, 1)
        await asyncio.to_thread(eventually, lambda: not runtime.is_alive(instance))
        result = await runtime.stop(instance, drain_timeout_s=5)
        assert result.outcome is StopOutcome.ALREADY_EXITED
        assert result.exit_code == 3
        assert runtime.stop_requested(instance)

    asyncio.run(scenario())


def test_a_missing_executable_is_a_clear_start_error(
    workdir: Path, make_release: ReleaseFactory
) -> None:
    release = make_release(["./no-such-program", "{port}"])
    runtime = ProcessRuntime(workdir / ".v11ops")
    with pytest.raises(InstanceStartError, match=r"cannot start blue \(release 1.0.0\): "):
        asyncio.run(runtime.start("blue", release, 1))
    assert runtime.instances() == []


# -- adopt --------------------------------------------------------------------------------------

CONTROLLER = """
import asyncio, sys
from v11ops.config import load_config
from v11ops.runtime import ProcessRuntime
config = load_config(sys.argv[1])
port = int(sys.argv[2])
runtime = ProcessRuntime(config.state_path)
instance = asyncio.run(runtime.start("blue", config.release("1.0.0", slot="blue", port=port), port))
print(instance.id)
"""


def start_with_a_controller_that_exits(workdir: Path, port: int) -> str:
    """Like a controller that started an instance and then died: the instance is orphaned."""
    done = subprocess.run(
        [sys.executable, "-c", CONTROLLER, str(workdir / "v11ops.yaml"), str(port)],
        check=True,
        capture_output=True,
        text=True,
        timeout=30,
    )
    return done.stdout.strip()


def test_adopt_takes_over_a_live_instance_instead_of_starting_a_duplicate(
    workdir: Path, make_release: ReleaseFactory
) -> None:
    port = free_port()
    make_release(["{python}", "http_server.py", "{port}"])
    instance_id = start_with_a_controller_that_exits(workdir, port)

    async def scenario() -> None:
        runtime = ProcessRuntime(workdir / ".v11ops")
        result = await runtime.adopt()
        assert [i.id for i in result.adopted] == [instance_id]
        assert result.forgotten == [] and result.reaped == []
        instance = result.adopted[0]
        assert runtime.is_alive(instance)
        await asyncio.to_thread(eventually, lambda: answers(f"http://127.0.0.1:{port}/"))

        again = await runtime.adopt()  # idempotent: still one instance
        assert [i.id for i in again.adopted] == [instance_id]
        assert runtime.instances() == [instance]

        # Not our child: stop() waits by polling /proc.
        stopped = await runtime.stop(instance, drain_timeout_s=10)
        assert stopped.outcome is StopOutcome.TERMINATED
        assert stopped.exit_code is None
        assert not procfs.is_running(instance.pid, instance.start_time)

    asyncio.run(scenario())


def test_adopt_does_not_trust_a_record_whose_pid_was_reused(workdir: Path) -> None:
    # A live process that is not ours, recorded with another start time: the recorded process
    # died and its pid went to this one. It must be neither adopted nor signalled.
    stranger = subprocess.Popen([sys.executable, workdir / "sleep.py"])
    try:
        started = procfs.start_time(stranger.pid)
        assert started is not None
        record = Instance(
            id="blue-00000000",
            slot="blue",
            version="1.0.0",
            pid=stranger.pid,
            pgid=stranger.pid,
            port=9003,
            start_time=started + 1,
            fingerprint="f" * 64,
            started_at=0.0,
            log_path=str(workdir / "blue.log"),
        )
        records = workdir / ".v11ops" / "instances"
        records.mkdir(parents=True)
        (records / "blue-00000000.json").write_text(json.dumps(record.to_record()))

        result = asyncio.run(ProcessRuntime(workdir / ".v11ops").adopt())
        assert result.adopted == []
        assert [i.id for i in result.forgotten] == ["blue-00000000"]
        assert stranger.poll() is None
        assert list(records.iterdir()) == []
    finally:
        stranger.kill()
        stranger.wait()


def test_adopt_forgets_records_of_dead_instances(
    workdir: Path, make_release: ReleaseFactory
) -> None:
    make_release(["{python}", "sleep.py"])
    instance_id = start_with_a_controller_that_exits(workdir, 1)
    records = workdir / ".v11ops" / "instances"
    pid = json.loads((records / f"{instance_id}.json").read_text())["pid"]
    os.killpg(pid, signal.SIGKILL)
    eventually(lambda: not procfs.group_members(pid))

    result = asyncio.run(ProcessRuntime(workdir / ".v11ops").adopt())
    assert result.adopted == []
    assert [i.id for i in result.forgotten] == [instance_id]
    assert list(records.iterdir()) == []


def test_adopt_reaps_an_orphan_that_has_no_record(
    workdir: Path, make_release: ReleaseFactory
) -> None:
    # The controller died between starting the process and recording it (or the record is lost).
    make_release(["{python}", "sleep.py"])
    instance_id = start_with_a_controller_that_exits(workdir, 1)
    record = workdir / ".v11ops" / "instances" / f"{instance_id}.json"
    pid = json.loads(record.read_text())["pid"]
    record.unlink()

    result = asyncio.run(ProcessRuntime(workdir / ".v11ops").adopt(orphan_grace_s=5))
    assert result.adopted == []
    assert result.reaped == [pid]
    assert procfs.group_members(pid) == []


def test_adopt_leaves_instances_of_another_state_dir_alone(
    workdir: Path, make_release: ReleaseFactory, tmp_path_factory: pytest.TempPathFactory
) -> None:
    make_release(["{python}", "sleep.py"])
    instance_id = start_with_a_controller_that_exits(workdir, 1)
    pid = json.loads((workdir / ".v11ops" / "instances" / f"{instance_id}.json").read_text())["pid"]

    other = ProcessRuntime(tmp_path_factory.mktemp("other") / ".v11ops")
    result = asyncio.run(other.adopt())
    assert result == type(result)()
    assert procfs.group_members(pid) == [pid]


def test_free_port_gives_a_bindable_port() -> None:
    import socket

    port = free_port()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))
