"""The README's main job: `v11ops demo` must pass from a clean folder."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.support.nodeproc import V11OPS

pytestmark = pytest.mark.slow


def test_the_demo_passes_and_cleans_up(tmp_path: Path) -> None:
    work = tmp_path / "demo"
    r = subprocess.run([V11OPS, "demo", "--keep", str(work)], capture_output=True, text=True,
                       timeout=300)  # fmt: skip
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert "demo passed" in r.stdout
    assert "rolled_back" in r.stdout and "1.1.0" in r.stdout
    assert not (work / ".v11ops" / "controller.sock").exists(), "the controller was stopped"
