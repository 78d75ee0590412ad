"""ProcessRuntime when starting cannot complete, and orphans that ignore SIGTERM."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from pathlib import Path

import pytest

from tests.runtime.programs import ReleaseFactory, eventually
from tests.runtime.test_process_runtime import start_with_a_controller_that_exits
from v11ops.runtime import MARKER_ENV, InstanceStartError, ProcessRuntime
from v11ops.runtime import _procfs as procfs

pytestmark = pytest.mark.timeout(60)


def _ours(state: Path) -> dict[int, str]:
    return procfs.processes_with_env(MARKER_ENV, f"{state.resolve()}::")


def test_a_release_whose_workdir_is_missing_is_not_started(
    workdir: Path, make_release: ReleaseFactory
) -> None:
    release = replace(make_release(["{python}", "sleep.py"]), workdir=workdir / "absent")
    runtime = ProcessRuntime(workdir / ".v11ops")
    with pytest.raises(InstanceStartError, match=r"workdir .*absent is not a directory"):
        asyncio.run(runtime.start("blue", release, 1))
    assert runtime.instances() == [] and _ours(workdir / ".v11ops") == {}


def test_an_instance_that_cannot_be_recorded_is_killed_at_once(
    workdir: Path, make_release: ReleaseFactory
) -> None:
    state = workdir / ".v11ops"
    state.mkdir()
    (state / "instances").write_text("a file where the records folder belongs")
    runtime = ProcessRuntime(state)
    with pytest.raises(InstanceStartError, match="cannot record instance blue-"):
        asyncio.run(runtime.start("blue", make_release(["{python}", "sleep.py"]), 1))
    assert runtime.instances() == []
    eventually(lambda: _ours(state) == {})  # no unrecorded process outlives the failure


def test_adopt_drops_unreadable_records_and_kills_an_orphan_that_ignores_sigterm(
    workdir: Path, make_release: ReleaseFactory
) -> None:
    ready = workdir / "ready"
    make_release(["{python}", "ignore_term.py", "{port}", str(ready)])
    instance_id = start_with_a_controller_that_exits(workdir, 1)
    records = workdir / ".v11ops" / "instances"
    record = records / f"{instance_id}.json"
    pid = json.loads(record.read_text())["pid"]
    record.unlink()
    (records / "garbage.json").write_text("{")
    eventually(ready.exists)  # its SIGTERM handler is in place

    result = asyncio.run(ProcessRuntime(workdir / ".v11ops").adopt(orphan_grace_s=0.3))
    assert result.reaped == [pid]
    assert not (records / "garbage.json").exists()
    eventually(lambda: procfs.group_members(pid) == [])
