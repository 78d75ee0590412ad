"""Fixtures for runtime tests: a folder with the child programs, releases that run them."""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.runtime.programs import PROGRAMS, ReleaseFactory
from v11ops.config import ResolvedRelease, load_config
from v11ops.runtime import MARKER_ENV
from v11ops.runtime import _procfs as procfs


@pytest.fixture
def workdir(tmp_path: Path) -> Iterator[Path]:
    """A folder with the programs and a config; every process of its state dir is killed after."""
    for name, source in PROGRAMS.items():
        (tmp_path / name).write_text(source.lstrip())
    yield tmp_path
    state = str((tmp_path / ".v11ops").resolve())
    for pid in procfs.processes_with_env(MARKER_ENV, f"{state}::"):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)


@pytest.fixture
def make_release(workdir: Path) -> ReleaseFactory:
    """`make_release(["{python}", "sleep.py"], slot="blue", port=0)` -> ResolvedRelease."""

    def make(
        command: list[str], *, slot: str = "blue", port: int = 0, version: str = "1.0.0"
    ) -> ResolvedRelease:
        argv = ", ".join(f'"{arg}"' for arg in command)
        text = (
            f"service:\n  name: test\n  command: [{argv}]\n"
            f'releases:\n  "{version}": {{}}\n'
            "slots: {blue: {port: auto}, green: {port: auto}}\n"
        )
        path = workdir / "v11ops.yaml"
        path.write_text(text)
        return load_config(path).release(version, slot=slot, port=port)

    return make
