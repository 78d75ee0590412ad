"""Fixtures for gate tests."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack

import pytest
from starlette.types import ASGIApp

from tests.gates.servers import Serve, running


@pytest.fixture
def serve() -> Iterator[Serve]:
    """`base_url = serve(app)`: the servers stop at the end of the test."""
    with ExitStack() as stack:

        def start(app: ASGIApp) -> str:
            return stack.enter_context(running(app))

        yield start
