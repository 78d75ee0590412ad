"""The node's HTTP API, in process (the lifespan runs: storage, producer and all)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from v11node.api.keys import KeyRing
from v11node.faults import Faults
from v11node.ledger.accounts import dev_address, dev_signing_key
from v11node.ledger.transaction import make_transaction, to_json
from v11node.node import NodeSettings
from v11node.server import build_app


def _client(db: str, **overrides: object) -> TestClient:
    settings = NodeSettings(
        db_url=db, node_id="api-test", release="9.9.9", block_interval_s=0.05, **overrides
    )  # type: ignore[arg-type]
    # A loopback peer, as the router is in production (X-Forwarded-For is trusted from it).
    return TestClient(build_app(settings), client=("127.0.0.1", 50000))


def _wait_ready(client: TestClient) -> None:
    for _ in range(400):
        if client.get("/q/health/ready").status_code == 200:
            return
        time.sleep(0.025)
    raise AssertionError(client.get("/q/health/ready").json())


@pytest.fixture
def client(db_url: str) -> Iterator[TestClient]:
    with _client(db_url) as c:
        _wait_ready(c)
        yield c


def _wait_status(client: TestClient, tx_hash: str, status: str) -> dict[str, object]:
    for _ in range(400):
        body = client.get(f"/api/v11/transactions/{tx_hash}").json()
        if body["status"] == status:
            return body  # type: ignore[no-any-return]
        time.sleep(0.025)
    raise AssertionError(body)


def test_health_endpoints_speak_microprofile_health(client: TestClient) -> None:
    for path in (
        "/q/health",
        "/q/health/live",
        "/q/health/ready",
        "/q/health/started",
        "/api/v11/health",
    ):
        body = client.get(path).json()
        assert body["status"] == "UP", path
        assert all({"name", "status"} <= set(c) for c in body["checks"])
    names = {c["name"] for c in client.get("/q/health").json()["checks"]}
    assert {"Database", "Block producer", "Pending pool"} <= names


def test_info_reports_the_release_and_storage(client: TestClient, db_url: str) -> None:
    info = client.get("/api/v11/info").json()
    assert info["version"] == "9.9.9" and info["nodeId"] == "api-test"
    assert info["storage"] == ("sqlite" if db_url.startswith("sqlite") else "postgresql")


def test_a_batch_is_confirmed_in_a_block_and_balances_move(client: TestClient) -> None:
    txs = [make_transaction(dev_signing_key(i), dev_address(100), 5, 1) for i in range(10)]
    r = client.post("/api/v11/transactions", json={"transactions": [to_json(t) for t in txs]})
    assert r.status_code == 202
    assert r.json() == {"count": 10, "hashes": [t.hash.hex() for t in txs]}
    body = _wait_status(client, txs[-1].hash.hex(), "CONFIRMED")
    block = client.get(f"/api/v11/blocks/{body['blockHeight']}").json()
    assert block["transactionCount"] >= 1 and block["producerId"] == "api-test"
    assert client.get("/api/v11/blockchain/latest").json()["height"] >= 1
    acct = client.get(f"/api/v11/accounts/{dev_address(100).hex()}").json()
    assert acct["balance"] == 10**15 + 50
    stats = client.get("/api/v11/stats").json()
    assert set(stats) >= {"tps", "blockHeight", "pending", "committedTotal", "commitLatencyMs"}
    assert set(stats["tps"]) == {"10s", "60s"}


def test_a_resubmission_is_refused_and_applied_once(client: TestClient) -> None:
    tx = to_json(make_transaction(dev_signing_key(3), dev_address(4), 1, 1))
    first = client.post("/api/v11/transactions", json=tx)
    second = client.post("/api/v11/transactions", json=tx)
    assert first.status_code == 202 and second.status_code == 409
    tx_hash = first.json()["hashes"][0]
    assert second.json()["errors"] == [
        {"field": "body", "message": f"transaction {tx_hash} was already submitted"}
    ]
    _wait_status(client, tx_hash, "CONFIRMED")
    assert client.get(f"/api/v11/accounts/{dev_address(3).hex()}").json()["nonce"] == 1


def test_a_replayed_nonce_is_rejected_with_the_reason(client: TestClient) -> None:
    a = make_transaction(dev_signing_key(5), dev_address(6), 1, 1)
    b = make_transaction(dev_signing_key(5), dev_address(6), 2, 1)  # same nonce, other amount
    client.post("/api/v11/transactions", json=to_json(a))
    _wait_status(client, a.hash.hex(), "CONFIRMED")
    client.post("/api/v11/transactions", json=to_json(b))
    rejected = _wait_status(client, b.hash.hex(), "REJECTED")
    assert "nonce" in str(rejected["reason"])


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"transactions": []}, 422, "transactions"),
        ({"sender": "zz"}, 422, "sender"),
        ({"transactions": [{"amount": 1}]}, 422, "transactions[0].sender"),
        ("amount-not-an-object", 422, "body"),
    ],
)
def test_malformed_input_names_the_field(
    client: TestClient, body: object, status: int, field: str
) -> None:
    r = client.post("/api/v11/transactions", json=body)
    assert r.status_code == status
    assert r.headers["content-type"].startswith("application/problem+json")
    assert field in [e["field"] for e in r.json()["errors"]]


def test_amount_must_be_a_positive_integer(client: TestClient) -> None:
    tx = to_json(make_transaction(dev_signing_key(0), dev_address(1), 1, 1))
    for amount in (0, -1, 1.5, "1", 2**63):
        r = client.post("/api/v11/transactions", json={**tx, "amount": amount})
        assert r.status_code == 422, amount
        assert r.json()["errors"][0]["field"] == "amount"


def test_a_bad_signature_is_400_counted_and_nothing_is_stored(client: TestClient) -> None:
    good = make_transaction(dev_signing_key(7), dev_address(8), 1, 1)
    forged = {**to_json(good), "amount": 2}
    r = client.post("/api/v11/transactions", json={"transactions": [to_json(good), forged]})
    assert r.status_code == 400
    assert r.json()["errors"] == [{"field": "transactions[1].signature", "message": "invalid"}]
    assert client.get(f"/api/v11/transactions/{good.hash.hex()}").status_code == 404
    assert (
        "aurigraph_crypto_signature_verification_failures_total 1.0"
        in client.get("/q/metrics").text
    )


def test_malformed_json_and_too_large_bodies(client: TestClient) -> None:
    r = client.post(
        "/api/v11/transactions", content=b"{nope", headers={"content-type": "application/json"}
    )
    assert r.status_code == 400 and r.json()["title"] == "Malformed JSON"
    big = b"[" + b" " * (5 * 1024 * 1024) + b"]"
    assert client.post("/api/v11/transactions", content=big).status_code == 413
    many = {"transactions": [{}] * 1001}
    assert client.post("/api/v11/transactions", json=many).status_code == 413


def test_unknown_hash_block_and_route_are_404(client: TestClient) -> None:
    assert client.get(f"/api/v11/transactions/{'ab' * 32}").status_code == 404
    assert client.get("/api/v11/transactions/xyz").status_code == 404
    assert client.get("/api/v11/blocks/999999").status_code == 404
    assert client.get("/api/v11/blocks/-1").status_code == 404
    assert client.get("/api/v11/nothing-here").status_code == 404


def test_metrics_expose_the_names_the_alerts_query(client: TestClient) -> None:
    client.get("/api/v11/info")
    text = client.get("/q/metrics").text
    for name in (
        "aurigraph_transactions_total", "aurigraph_transactions_processed_total",
        "aurigraph_transactions_failed_total", "aurigraph_transaction_queue_size",
        "aurigraph_transaction_duration_seconds_bucket", "aurigraph_blocks_total",
        "aurigraph_block_height", "aurigraph_consensus_rounds_total",
        "aurigraph_consensus_failures_total", "aurigraph_consensus_round_duration_seconds_bucket",
        "aurigraph_consensus_leader_changes_total", "aurigraph_validators_active",
        "aurigraph_auth_success_total", "aurigraph_auth_failures_total",
        "aurigraph_api_rate_limited_total",
        "aurigraph_crypto_signature_verification_failures_total",
        'aurigraph_db_pool_connections{state="active"}', "aurigraph_db_pool_max",
        'http_server_requests_seconds_count{method="GET",status="200",uri="/api/v11/info"}',
        "process_cpu_seconds_total", "python_gc_pause_seconds", 'aurigraph_build_info{',
    ):  # fmt: skip
        assert name in text, name


def test_api_keys_guard_writes_and_are_counted(tmp_path: Path) -> None:
    keys = KeyRing.from_plain(("s3cret",), "test")
    with _client(f"sqlite:///{tmp_path / 'k.db'}", api_keys=keys) as c:
        _wait_ready(c)
        tx = to_json(make_transaction(dev_signing_key(0), dev_address(1), 1, 1))
        assert c.post("/api/v11/transactions", json=tx).status_code == 401
        assert (
            c.post("/api/v11/transactions", json=tx, headers={"X-API-Key": "wrong"}).status_code
            == 401
        )
        assert (
            c.post("/api/v11/transactions", json=tx, headers={"X-API-Key": "s3cret"}).status_code
            == 202
        )
        text = c.get("/q/metrics").text
        assert "aurigraph_auth_failures_total 2.0" in text
        assert "aurigraph_auth_success_total 1.0" in text


def test_rate_limit_answers_429_per_client(tmp_path: Path) -> None:
    with _client(f"sqlite:///{tmp_path / 'r.db'}", rate_limit_per_s=2.0) as c:
        _wait_ready(c)
        codes = [c.get("/api/v11/info").status_code for _ in range(5)]
        assert codes[:2] == [200, 200] and codes[-1] == 429
        other = c.get("/api/v11/info", headers={"X-Forwarded-For": "10.1.2.3"})
        assert other.status_code == 200, "another client has its own bucket"
        assert "aurigraph_api_rate_limited_total" in c.get("/q/metrics").text


def test_fault_hooks_simulate_a_bad_release(tmp_path: Path) -> None:
    with _client(f"sqlite:///{tmp_path / 'f.db'}", faults=Faults(error_rate=1.0)) as c:
        _wait_ready(c)
        assert c.get("/api/v11/info").status_code == 500
        assert c.get("/q/health/ready").status_code == 200, "health stays UP: only traffic fails"
    with _client(f"sqlite:///{tmp_path / 'g.db'}", faults=Faults(never_ready=True)) as c:
        time.sleep(0.3)
        assert c.get("/q/health/ready").status_code == 503
        assert c.get("/q/health/live").status_code == 200


def test_the_producer_yields_its_lease_on_request(client: TestClient) -> None:
    assert client.get("/api/v11/consensus/status").json()["role"] == "LEADER"
    body = client.post("/admin/v11/producer/yield").json()
    assert body["released"] is True
    status = client.get("/api/v11/consensus/status").json()
    assert status["role"] == "FOLLOWER" and status["leaderId"] is None


def test_openapi_document_is_served(client: TestClient) -> None:
    doc = client.get("/q/openapi").json()
    assert "/api/v11/transactions" in doc["paths"]
    assert "TransactionIn" in doc["components"]["schemas"]


def test_admin_routes_refuse_proxied_calls_without_an_admin_key(client: TestClient) -> None:
    proxied = client.post("/admin/v11/producer/yield", headers={"X-Forwarded-For": "203.0.113.9"})
    assert proxied.status_code == 403
    assert client.get("/api/v11/consensus/status").json()["role"] == "LEADER", "nothing changed"


def test_an_admin_key_guards_admin_routes(tmp_path: Path) -> None:
    keys = KeyRing.from_plain(("adm1n",), "test")
    with _client(f"sqlite:///{tmp_path / 'a.db'}", admin_keys=keys) as c:
        _wait_ready(c)
        assert c.post("/admin/v11/producer/yield").status_code == 401
        ok = c.post("/admin/v11/producer/yield", headers={"X-Admin-Key": "adm1n"})
        assert ok.status_code == 200 and ok.json()["released"] is True
