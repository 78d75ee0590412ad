"""Contract tests: schemathesis generates requests from the node's own OpenAPI document and the
node answers every one without a server error and as documented."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import hypothesis
import pytest
import schemathesis
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import status_code_conformance

from tests.support.nodeproc import NodeProcess
from v11ops.runtime import free_port


@pytest.fixture(scope="module")
def live_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeProcess]:
    tmp: Path = tmp_path_factory.mktemp("contract")
    node = NodeProcess(free_port(), f"sqlite:///{tmp / 'ledger.db'}", "contract", tmp / "node.log")
    node.start().wait_ready()
    yield node
    node.terminate()


schema = schemathesis.pytest.from_fixture("contract_schema")


@pytest.fixture(scope="module")
def contract_schema(live_node: NodeProcess):  # type: ignore[no-untyped-def]
    return schemathesis.openapi.from_url(f"{live_node.url}/q/openapi")


@schema.parametrize()
@hypothesis.settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(hypothesis.HealthCheck),
)
def test_no_input_causes_a_server_error(case, live_node: NodeProcess) -> None:  # type: ignore[no-untyped-def]
    case.call_and_validate(
        base_url=live_node.url, checks=[not_a_server_error, status_code_conformance]
    )
