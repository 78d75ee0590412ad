"""The pending pool is bounded: once full, writes get 503 with Retry-After and nothing is stored;
reads go on; the bound shows in the readiness check and a metric counts the refusals."""

from __future__ import annotations

import time
from pathlib import Path

from starlette.testclient import TestClient

from v11node.ledger.accounts import dev_address, dev_signing_key
from v11node.ledger.transaction import make_transaction, to_json
from v11node.node import NodeSettings
from v11node.server import build_app


def _node(tmp_path: Path, max_pending: int) -> TestClient:
    settings = NodeSettings(
        db_url=f"sqlite:///{tmp_path / 'ledger.db'}",
        node_id="pool",
        block_interval_s=3600,  # no block in the test's lifetime: what is accepted stays pending
        verify_processes=0,
        max_pending=max_pending,
    )
    return TestClient(build_app(settings), client=("127.0.0.1", 50000))


def _wait(client: TestClient, what: str, ok: object) -> dict[str, object]:
    deadline = time.monotonic() + 20
    while True:
        response = client.get("/q/health/ready")
        checks = {c["name"]: c for c in response.json()["checks"]}
        if response.status_code == 200 and callable(ok) and ok(checks):
            return checks
        assert time.monotonic() < deadline, f"{what}: {checks}"
        time.sleep(0.05)


def _tx(nonce: int) -> dict[str, object]:
    return to_json(make_transaction(dev_signing_key(0), dev_address(1), 1, nonce))


def test_a_full_pool_refuses_writes_with_503_and_stores_nothing(tmp_path: Path) -> None:
    with _node(tmp_path, max_pending=2) as client:
        _wait(client, "never ready", lambda checks: True)
        batch = {"transactions": [_tx(1), _tx(2)]}
        assert client.post("/api/v11/transactions", json=batch).status_code == 202
        checks = _wait(
            client,
            "the heartbeat never counted the two pending transactions",
            lambda checks: checks["Pending pool"]["data"]["pending"] == 2,
        )
        pool = checks["Pending pool"]
        assert pool["status"] == "UP" and pool["data"] == {"pending": 2, "limit": 2, "full": True}

        refused = client.post("/api/v11/transactions", json=_tx(3))
        assert refused.status_code == 503
        assert refused.headers["retry-after"] == "1"
        assert refused.json()["title"] == "Pending pool full"
        assert "limit 2" in refused.json()["detail"]
        assert client.get("/api/v11/stats").json()["pending"] == 2, "the refused one was stored"
        assert client.get("/api/v11/accounts/" + dev_address(0).hex()).status_code == 200
        metrics = client.get("/q/metrics").text
        assert "aurigraph_transaction_pool_full_total 1.0" in metrics


def test_no_bound_accepts_past_any_count(tmp_path: Path) -> None:
    with _node(tmp_path, max_pending=0) as client:
        _wait(client, "never ready", lambda checks: True)
        assert (
            client.post(
                "/api/v11/transactions", json={"transactions": [_tx(1), _tx(2)]}
            ).status_code
            == 202
        )
        checks = _wait(
            client,
            "the heartbeat never counted the pending transactions",
            lambda checks: checks["Pending pool"]["data"]["pending"] == 2,
        )
        assert checks["Pending pool"]["data"] == {"pending": 2}
        assert client.post("/api/v11/transactions", json=_tx(3)).status_code == 202
