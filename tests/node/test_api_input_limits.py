"""Limits of the write route that only some clients reach: byte-long memos, streamed bodies."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from v11node.faults import Faults
from v11node.ledger.accounts import dev_address, dev_signing_key
from v11node.ledger.transaction import MAX_MEMO_BYTES, make_transaction, to_json
from v11node.node import NodeSettings
from v11node.server import build_app


def _client(tmp_path: Path, **overrides: object) -> TestClient:
    settings = NodeSettings(
        db_url=f"sqlite:///{tmp_path / 'ledger.db'}",
        node_id="limits",
        block_interval_s=0.05,
        verify_processes=0,
        **overrides,  # type: ignore[arg-type]
    )
    return TestClient(build_app(settings), client=("127.0.0.1", 50000))


def _wait_ready(client: TestClient) -> None:
    # Leaving before the node is ready would stop it in the middle of writing its genesis.
    deadline = time.monotonic() + 20
    while client.get("/q/health/ready").status_code != 200:
        assert time.monotonic() < deadline, "the node never became ready"
        time.sleep(0.02)


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with _client(tmp_path, max_body_bytes=4096) as c:
        _wait_ready(c)
        yield c


def _signed(memo: str = "") -> dict[str, object]:
    tx = make_transaction(dev_signing_key(0), dev_address(1), 1, 1)
    return {**to_json(tx), "memo": memo}


def test_a_memo_within_the_characters_but_over_the_bytes_is_refused(client: TestClient) -> None:
    memo = "é" * MAX_MEMO_BYTES  # as many characters as allowed, twice as many UTF-8 bytes
    single = client.post("/api/v11/transactions", json=_signed(memo))
    assert single.status_code == 422
    assert single.json()["errors"] == [
        {"field": "memo", "message": f"at most {MAX_MEMO_BYTES} UTF-8 bytes"}
    ]
    batch = client.post("/api/v11/transactions", json={"transactions": [_signed(), _signed(memo)]})
    assert batch.status_code == 422
    assert batch.json()["errors"][0]["field"] == "transactions[1].memo"


def test_a_streamed_body_over_the_limit_is_cut_off_with_413(client: TestClient) -> None:
    def body() -> Iterator[bytes]:
        for _ in range(8):
            yield b" " * 1024  # no Content-Length: the limit is checked while reading

    response = client.post("/api/v11/transactions", content=body())
    assert response.status_code == 413
    assert response.json()["detail"] == "body exceeds the limit of 4096 bytes"


def test_an_empty_batch_names_the_transactions_field(client: TestClient) -> None:
    response = client.post("/api/v11/transactions", json={"transactions": [], "extra": 1})
    assert response.status_code == 422
    assert {e["field"] for e in response.json()["errors"]} >= {"transactions"}


def test_the_latency_fault_delays_requests_but_they_still_succeed(tmp_path: Path) -> None:
    with _client(tmp_path, faults=Faults(latency_ms=200)) as c:
        _wait_ready(c)
        began = time.monotonic()
        info = c.get("/api/v11/info")
        assert time.monotonic() - began >= 0.2, "the injected latency was not applied"
        assert info.status_code == 200
        checks = {c["name"]: c for c in c.get("/q/health").json()["checks"]}
        assert checks["Serving"]["data"]["faults"] == {"latency_ms": 200.0}
