"""The node's own guards, in process: hashed keys, the admin key, per-key and per-address rate
limits (on an injected clock: nothing sleeps), header count, CORS and the security headers."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from v11node.api.keys import KeyRing, hash_line, load_key_file, new_key
from v11node.ledger.accounts import dev_address, dev_signing_key
from v11node.ledger.transaction import make_transaction, to_json
from v11node.node import NodeSettings
from v11node.server import build_app

API_KEY = new_key()
OTHER_KEY = new_key()
ADMIN_KEY = new_key(admin=True)
SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "content-security-policy": "default-src 'none'; frame-ancestors 'none'",
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",
}


class FakeClock:
    """The rate limiters' clock; a test moves it instead of sleeping."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def _rings(tmp_path: Path) -> tuple[KeyRing, KeyRing]:
    api, admin = tmp_path / "api.keys", tmp_path / "admin.keys"
    api.write_text(f"# clients\n{hash_line('alice', API_KEY)}\n{hash_line('bob', OTHER_KEY)}\n")
    admin.write_text(hash_line("ops", ADMIN_KEY) + "\n")
    return load_key_file(api), load_key_file(admin)


def _app_client(tmp_path: Path, clock: FakeClock, **overrides: object) -> TestClient:
    settings = NodeSettings(
        db_url=f"sqlite:///{tmp_path / 'ledger.db'}",
        node_id="security",
        block_interval_s=0.05,
        verify_processes=0,
        **overrides,  # type: ignore[arg-type]
    )
    # A loopback peer, as the router is in production (X-Forwarded-For is trusted from it).
    return TestClient(build_app(settings, clock=clock), client=("127.0.0.1", 50000))


def _ready(client: TestClient) -> TestClient:
    deadline = time.monotonic() + 30
    while client.get("/q/health/ready").status_code != 200:
        assert time.monotonic() < deadline, "the node never became ready"
        time.sleep(0.02)
    return client


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def keyed(tmp_path: Path, clock: FakeClock) -> Iterator[TestClient]:
    api, admin = _rings(tmp_path)
    with _app_client(tmp_path, clock, api_keys=api, admin_keys=admin) as client:
        yield _ready(client)


def _tx(sender: int = 0, nonce: int = 1) -> dict[str, object]:
    return to_json(make_transaction(dev_signing_key(sender), dev_address(sender + 1), 1, nonce))


def _metric(client: TestClient, name: str) -> float:
    for line in client.get("/q/metrics").text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"{name} not exported")


# -- keys ------------------------------------------------------------------------------------------
def test_the_node_holds_key_hashes_only(keyed: TestClient, tmp_path: Path) -> None:
    node = keyed.app.state.node  # type: ignore[attr-defined]
    dumped = repr(node.settings) + keyed.get("/api/v11/info").text
    dumped += (tmp_path / "api.keys").read_text() + (tmp_path / "admin.keys").read_text()
    for key in (API_KEY, OTHER_KEY, ADMIN_KEY):
        assert key not in dumped
        assert key[5:] not in dumped, "not even without its prefix"
    assert node.settings.api_keys.names == ("alice", "bob")


def test_writes_need_a_valid_api_key(keyed: TestClient) -> None:
    submit = "/api/v11/transactions"
    missing = keyed.post(submit, json=_tx())
    assert missing.status_code == 401
    assert missing.json()["detail"] == "a valid X-API-Key header is required"
    wrong = keyed.post(submit, json=_tx(), headers={"X-API-Key": API_KEY + "x"})
    assert wrong.status_code == 401
    assert wrong.json()["detail"] == "the X-API-Key header is not a valid API key"
    admin_as_api = keyed.post(submit, json=_tx(), headers={"X-API-Key": ADMIN_KEY})
    assert admin_as_api.status_code == 401, "keys of one file are not valid for the other"
    assert keyed.post(submit, json=_tx(), headers={"X-API-Key": API_KEY}).status_code == 202
    assert _metric(keyed, "aurigraph_auth_failures_total") == 3
    assert _metric(keyed, "aurigraph_auth_success_total") == 1


def test_reads_are_open_but_a_wrong_key_is_refused_anywhere(keyed: TestClient) -> None:
    assert keyed.get("/api/v11/info").status_code == 200
    assert keyed.get("/api/v11/info", headers={"X-API-Key": "guess"}).status_code == 401
    assert _metric(keyed, "aurigraph_auth_failures_total") == 1, "fed to UnauthorizedAccessAttempt"


def test_admin_routes_need_the_admin_key(keyed: TestClient) -> None:
    path = "/admin/v11/producer/yield"
    assert keyed.post(path).status_code == 401
    normal = keyed.post(path, headers={"X-API-Key": API_KEY})
    assert normal.status_code == 403
    assert normal.json()["detail"] == "an API key is not an admin key: send X-Admin-Key"
    assert keyed.post(path, headers={"X-Admin-Key": API_KEY}).status_code == 401
    assert keyed.get("/api/v11/consensus/status").json()["role"] == "LEADER", "nothing changed"
    assert _metric(keyed, "aurigraph_auth_failures_total") == 3
    ok = keyed.post(path, headers={"X-Admin-Key": ADMIN_KEY})
    assert ok.status_code == 200 and ok.json()["released"] is True


# -- rate limits -----------------------------------------------------------------------------------
def test_the_per_address_limit_answers_429_with_retry_after(
    tmp_path: Path, clock: FakeClock
) -> None:
    client = _app_client(tmp_path, clock, rate_limit_per_s=0.5)  # burst 1, a token every 2 s
    assert client.get("/api/v11/info").status_code == 200
    limited = client.get("/api/v11/info")
    assert limited.status_code == 429
    assert limited.headers["retry-after"] == "2"
    assert limited.json()["detail"] == "per-client rate limit exceeded"
    clock.now += 1.0
    assert client.get("/api/v11/info").headers["retry-after"] == "1", "half a token refilled"
    clock.now += 2.0
    assert client.get("/api/v11/info").status_code == 200
    assert client.get("/q/health/live").status_code == 200, "health checks are never limited"
    assert _metric(client, "aurigraph_api_rate_limited_total") == 2


def test_the_client_address_is_the_hop_the_proxy_added(tmp_path: Path, clock: FakeClock) -> None:
    client = _app_client(tmp_path, clock, rate_limit_per_s=0.5)

    def via(forwarded: str) -> int:
        return client.get("/api/v11/info", headers={"X-Forwarded-For": forwarded}).status_code

    assert via("10.0.0.7") == 200
    assert via("10.0.0.8") == 200, "another client has its own bucket"
    # A client writing its own X-Forwarded-For gets no fresh bucket: the router appends the
    # address it saw, and that last hop is the one counted.
    assert via("198.51.100.1, 10.0.0.7") == 429
    assert via("198.51.100.2, 10.0.0.7") == 429


def test_the_per_key_limit_follows_the_key_across_addresses(
    tmp_path: Path, clock: FakeClock
) -> None:
    api, _ = _rings(tmp_path)
    client = _app_client(tmp_path, clock, api_keys=api, key_rate_limit_per_s=1.0)

    def get(key: str, address: str) -> int:
        headers = {"X-API-Key": key, "X-Forwarded-For": address}
        return client.get("/api/v11/info", headers=headers).status_code

    assert get(API_KEY, "10.0.0.1") == 200
    assert get(API_KEY, "10.0.0.2") == 429, "same key from elsewhere: same bucket"
    assert get(OTHER_KEY, "10.0.0.1") == 200, "another key has its own bucket"
    limited = client.get("/api/v11/info", headers={"X-API-Key": API_KEY})
    assert limited.headers["retry-after"] == "1"
    assert limited.json()["detail"] == "per-key rate limit exceeded"
    assert client.get("/api/v11/info").status_code == 200, "no key: only the address limit"
    clock.now += 1.0
    assert get(API_KEY, "10.0.0.3") == 200


# -- request shape ---------------------------------------------------------------------------------
def test_too_many_or_too_large_headers_are_refused_with_431(
    tmp_path: Path, clock: FakeClock
) -> None:
    client = _app_client(tmp_path, clock, max_headers=20, max_header_bytes=2048)
    many = client.get("/q/health/live", headers={f"x-filler-{i}": "1" for i in range(30)})
    assert many.status_code == 431
    assert many.json()["detail"] == "at most 20 header fields"
    large = client.get("/q/health/live", headers={"x-big": "a" * 2048})
    assert large.status_code == 431
    assert large.json()["detail"] == "request line and headers over 2048 bytes"
    long_query = client.get("/q/health/live?" + "q" * 2048)
    assert long_query.status_code == 431, "the request line counts"
    assert client.get("/q/health/live", headers={"x-big": "a" * 1500}).status_code == 200


# -- CORS and security headers ---------------------------------------------------------------------
ORIGIN = "https://wallet.example"
PREFLIGHT = {
    "Origin": ORIGIN,
    "Access-Control-Request-Method": "POST",
    "Access-Control-Request-Headers": "content-type, x-api-key",
}


def test_no_cors_headers_unless_configured(tmp_path: Path, clock: FakeClock) -> None:
    client = _app_client(tmp_path, clock)
    simple = client.get("/api/v11/info", headers={"Origin": ORIGIN})
    preflight = client.options("/api/v11/transactions", headers=PREFLIGHT)
    for response in (simple, preflight):
        assert not any(h.startswith("access-control-") for h in response.headers)


def test_cors_answers_only_the_configured_origins(tmp_path: Path, clock: FakeClock) -> None:
    client = _app_client(tmp_path, clock, cors_origins=(ORIGIN,))
    simple = client.get("/api/v11/info", headers={"Origin": ORIGIN})
    assert simple.headers["access-control-allow-origin"] == ORIGIN
    preflight = client.options("/api/v11/transactions", headers=PREFLIGHT)
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == ORIGIN
    assert "x-api-key" in preflight.headers["access-control-allow-headers"].lower()
    other = client.get("/api/v11/info", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in other.headers
    denied = client.options(
        "/api/v11/transactions", headers={**PREFLIGHT, "Origin": "https://evil.example"}
    )
    assert denied.status_code == 400 and "access-control-allow-origin" not in denied.headers


class _BrokenStorage:
    """A storage double whose read raises: the handler fails with an unexpected exception."""

    def latest_block(self) -> None:
        raise RuntimeError("disk on fire")


def test_every_kind_of_answer_carries_the_security_headers(
    tmp_path: Path, clock: FakeClock
) -> None:
    api, _ = _rings(tmp_path)
    client = _app_client(tmp_path, clock, api_keys=api, rate_limit_per_s=0.5)
    node = client.app.state.node  # type: ignore[attr-defined]
    answers = {
        "json": client.get("/api/v11/info"),
        "limited": client.get("/api/v11/info"),
        "metrics": client.get("/q/metrics"),
        "health": client.get("/q/health/live"),
        "not found": client.get("/nothing"),
        "openapi": client.get("/q/openapi"),
    }
    clock.now += 10
    answers["unauthorized"] = client.post("/api/v11/transactions", json=_tx())
    clock.now += 10
    node.storage_ready, node.storage = True, _BrokenStorage()
    answers["crash"] = TestClient(client.app, raise_server_exceptions=False).get(
        "/api/v11/blocks/latest"
    )
    expected = {"json": 200, "limited": 429, "metrics": 200, "health": 200, "not found": 404}
    expected |= {"openapi": 200, "unauthorized": 401, "crash": 500}
    for what, response in answers.items():
        assert response.status_code == expected[what], what
        for name, value in SECURITY_HEADERS.items():
            assert response.headers.get(name) == value, (what, name)
        assert "strict-transport-security" not in response.headers, "plain HTTP behind the router"
    assert answers["crash"].json()["title"] == "Internal error"
