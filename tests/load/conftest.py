from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import Any

import pytest

from tests.load.fake_node import FakeNode, serve

StartFake = Callable[..., tuple[FakeNode, str]]


@pytest.fixture
def fake_node() -> Iterator[StartFake]:
    """Start fake nodes on loopback ports for one test: `node, url = fake_node(script=(...))`."""
    with ExitStack() as stack:

        def start(**options: Any) -> tuple[FakeNode, str]:
            node = FakeNode(**options)
            return node, stack.enter_context(serve(node))

        yield start
