"""The smoke gate: HTTP checks with expected status and JSON fields, and a signed transaction."""

from __future__ import annotations

import asyncio
import itertools
import json
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from tests.gates.servers import Serve
from v11node.ledger.accounts import dev_address
from v11node.ledger.transaction import Transaction
from v11ops.config import DEFAULT_CONFIG_YAML, HttpCheck, SignedTransactionCheck, parse_config
from v11ops.gates import GateResult, next_nonce, smoke

pytestmark = pytest.mark.timeout(60)


def node_like_app(version: str, received: list[dict[str, Any]] | None = None) -> Starlette:
    """Enough of the V11 node for the default smoke checks; verifies transaction signatures."""

    async def live(request: Request) -> Response:
        return JSONResponse({"status": "UP", "checks": []})

    async def info(request: Request) -> Response:
        return JSONResponse(
            {"name": "aurigraph-v11-node", "version": version, "node": {"id": "green"}}
        )

    async def transactions(request: Request) -> Response:
        body = await request.json()
        tx = Transaction(
            sender=bytes.fromhex(body["sender"]),
            recipient=bytes.fromhex(body["recipient"]),
            amount=body["amount"],
            nonce=body["nonce"],
            memo=body.get("memo", ""),
            signature=bytes.fromhex(body["signature"]),
        )
        if not tx.verify():
            return JSONResponse({"title": "bad signature"}, status_code=400)
        if received is not None:
            received.append(body)
        return JSONResponse({"hashes": [tx.hash.hex()]}, status_code=202)

    async def text(request: Request) -> Response:
        return PlainTextResponse("plain")

    return Starlette(
        routes=[
            Route("/q/health/live", live),
            Route("/q/health/ready", live),
            Route("/api/v11/info", info),
            Route("/api/v11/transactions", transactions, methods=["POST"]),
            Route("/text", text),
        ]
    )


def check(**fields: Any) -> HttpCheck:
    return HttpCheck.model_validate({"name": "c", "path": "/api/v11/info", **fields})


def run(base_url: str, checks: list[Any], version: str = "1.1.0") -> GateResult:
    return asyncio.run(smoke(base_url, checks, version=version))


def test_the_default_node_checks_pass_against_a_node_of_the_right_version(
    serve: Serve, tmp_path: Path
) -> None:
    received: list[dict[str, Any]] = []
    config = parse_config(DEFAULT_CONFIG_YAML, tmp_path / "v11ops.yaml")
    result = run(serve(node_like_app("1.1.0", received)), list(config.gates.smoke))
    assert result.passed, result.explain()
    assert len(received) == 1
    assert received[0]["sender"] == dev_address(9999).hex()
    assert received[0]["memo"] == "v11ops smoke check, release 1.1.0"
    checks = [e.check for e in result.evidence]
    assert checks[:4] == [
        "live: GET /q/health/live status",
        "ready: GET /q/health/ready status",
        "ready: GET /q/health/ready json status",
        "version: GET /api/v11/info status",
    ]
    assert result.evidence[4].to_dict() == {
        "check": "version: GET /api/v11/info json version",
        "observed": "1.1.0",
        "expected": "1.1.0",
        "passed": True,
    }
    assert checks[5].startswith("signed-transaction: POST /api/v11/transactions transaction ")


def test_a_wrong_version_fails_with_the_observed_value(serve: Serve, tmp_path: Path) -> None:
    config = parse_config(DEFAULT_CONFIG_YAML, tmp_path / "v11ops.yaml")
    result = run(serve(node_like_app("1.0.0")), list(config.gates.smoke), version="1.1.0")
    assert not result.passed
    assert [e.to_dict() for e in result.failures] == [
        {
            "check": "version: GET /api/v11/info json version",
            "observed": "1.0.0",
            "expected": "1.1.0",
            "passed": False,
        }
    ]
    assert result.summary() == (
        "smoke failed: FAIL version: GET /api/v11/info json version: observed 1.0.0, expected 1.1.0"
    )


def test_nested_fields_missing_fields_and_types(serve: Serve) -> None:
    url = serve(node_like_app("2.0.0"))
    result = run(
        url,
        [
            check(expect_json={"node.id": "green", "name": "aurigraph-v11-node"}),
            check(name="missing", expect_json={"node.role": "LEADER"}),
            check(name="type", expect_json={"version": 2}),
        ],
        version="2.0.0",
    )
    assert not result.passed
    by_check = {e.check: e for e in result.evidence}
    assert by_check["c: GET /api/v11/info json node.id"].passed
    missing = by_check["missing: GET /api/v11/info json node.role"]
    assert (missing.observed, missing.expected, missing.note) == (None, "LEADER", "missing")
    assert not by_check["type: GET /api/v11/info json version"].passed


def test_wrong_status_and_a_body_that_is_not_json(serve: Serve) -> None:
    url = serve(node_like_app("1.0.0"))
    result = run(
        url,
        [
            check(name="status", path="/nope", expect_status=200),
            check(name="text", path="/text", expect_json={"a": 1}),
        ],
    )
    status, text_status, text_body = result.evidence
    assert (status.observed, status.expected, status.passed) == (404, 200, False)
    assert text_status.passed
    assert (text_body.observed, text_body.expected) == ("not JSON: plain", "JSON")


def test_a_rejected_transaction_fails_the_gate(serve: Serve) -> None:
    async def reject(request: Request) -> Response:
        return JSONResponse({"title": "nonce too low"}, status_code=400)

    app = Starlette(routes=[Route("/api/v11/transactions", reject, methods=["POST"])])
    tx_check = SignedTransactionCheck(name="tx", kind="signed_transaction")
    result = run(serve(app), [tx_check])
    assert not result.passed
    evidence = result.evidence[0]
    assert (evidence.observed, evidence.expected) == (400, 202)
    assert "nonce too low" in evidence.note


def test_headers_may_reference_the_environment(
    serve: Serve, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[str | None] = []

    async def keyed(request: Request) -> Response:
        seen.append(request.headers.get("x-api-key"))
        return JSONResponse({})

    monkeypatch.setenv("V11_TEST_KEY", "k-123")
    url = serve(Starlette(routes=[Route("/k", keyed)]))
    result = run(url, [check(path="/k", headers={"X-API-Key": "env:V11_TEST_KEY"})])
    assert result.passed
    assert seen == ["k-123"]
    monkeypatch.delenv("V11_TEST_KEY")
    result = run(url, [check(path="/k", headers={"X-API-Key": "env:V11_TEST_KEY"})])
    assert not result.passed
    assert "environment variable V11_TEST_KEY is not set" in result.evidence[0].observed


def test_smoke_nonces_strictly_increase() -> None:
    nonces = [next_nonce() for _ in range(1000)]
    assert all(a < b for a, b in itertools.pairwise(nonces))


def test_a_result_survives_a_round_trip_through_json(serve: Serve) -> None:
    result = run(serve(node_like_app("1.0.0")), [check(expect_json={"version": "{version}"})])
    restored = GateResult.from_dict(json.loads(json.dumps(result.to_dict())))
    assert restored.to_dict() == result.to_dict()
    assert restored.explain()[2] == (
        "  FAIL c: GET /api/v11/info json version: observed 1.0.0, expected 1.1.0"
    )
