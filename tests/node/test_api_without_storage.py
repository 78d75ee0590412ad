"""A node whose database cannot be opened stays up, never ready, and says why (in process)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from v11node.ledger.accounts import dev_address, dev_signing_key
from v11node.ledger.transaction import make_transaction, to_json
from v11node.node import NodeSettings
from v11node.server import build_app


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    (tmp_path / "a-file").write_text("")
    unusable = tmp_path / "a-file" / "ledger.db"  # a database under a regular file
    settings = NodeSettings(db_url=f"sqlite:///{unusable}", node_id="broken", verify_processes=0)
    with TestClient(build_app(settings), client=("127.0.0.1", 50000)) as c:
        deadline = time.monotonic() + 10
        while build_node(c).start_error is None:
            assert time.monotonic() < deadline, "the storage failure was never recorded"
            time.sleep(0.02)
        yield c


def build_node(client: TestClient):  # type: ignore[no-untyped-def]
    return client.app.state.node  # type: ignore[attr-defined]


def test_liveness_stays_up_while_readiness_is_down(client: TestClient) -> None:
    assert client.get("/q/health/live").status_code == 200
    ready = client.get("/q/health/ready")
    assert ready.status_code == 503
    checks = {c["name"]: c for c in ready.json()["checks"]}
    assert checks["Database"]["status"] == "DOWN"
    assert checks["Block producer"]["status"] == "DOWN"


def test_reads_and_writes_answer_503_instead_of_failing(client: TestClient) -> None:
    assert client.get("/api/v11/blocks/0").status_code == 503
    assert client.get("/api/v11/blockchain/latest").status_code == 503
    tx = to_json(make_transaction(dev_signing_key(0), dev_address(1), 1, 1))
    written = client.post("/api/v11/transactions", json=tx)
    assert written.status_code == 503
    assert written.json()["detail"] == "storage is not open yet"


def test_the_admin_yield_route_answers_503_without_a_producer(client: TestClient) -> None:
    response = client.post("/admin/v11/producer/yield")
    assert response.status_code == 503
    assert response.json()["detail"] == "the producer has not started"
