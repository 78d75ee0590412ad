"""One node process for the tests of this folder: starting one takes seconds on a busy machine."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.nodeproc import NodeProcess
from v11ops.runtime import free_port


@pytest.fixture(scope="session")
def _shared_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeProcess]:
    tmp = tmp_path_factory.mktemp("monitoring-node")
    node = NodeProcess(free_port(), f"sqlite:///{tmp / 'ledger.db'}", "blue", tmp / "node.log")
    try:
        yield node.start()
    finally:
        node.terminate()


@pytest.fixture
def node(_shared_node: NodeProcess) -> NodeProcess:
    """A ready node (started again if a test stopped it)."""
    proc = _shared_node.proc
    if proc is None or proc.poll() is not None:
        _shared_node.start()
    _shared_node.wait_ready()
    return _shared_node
