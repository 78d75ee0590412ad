from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.stack import Stack, make_stack


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    """A running stack with 1.0.0 live; everything it started is stopped afterwards."""
    s = make_stack(tmp_path / "stack")
    up = s.cli("up", "--version", "1.0.0")
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        yield s
    finally:
        s.cli("down", timeout=120)
