from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.stack import Stack, running_stack


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    """A running stack with 1.0.0 live; everything it started is stopped afterwards."""
    yield from running_stack(tmp_path / "stack")
