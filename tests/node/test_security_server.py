"""Guards that only a real server shows: oversized heads and bodies on the wire (uvicorn, with the
node's own protocol settings) and a transaction replayed, also concurrently, on both backends."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
import uvicorn

from tests.router.harness import read_to_eof
from v11node.ledger.accounts import dev_address, dev_signing_key
from v11node.ledger.transaction import make_transaction, to_json
from v11node.node import NodeSettings
from v11node.server import build_app, http_protocol, uvicorn_config
from v11ops.runtime import free_port

GENESIS_BALANCE = 10**15  # every development account's
PROTOCOLS = [pytest.param(None, id="httptools-bounded"), pytest.param("h11", id="h11")]


@contextlib.contextmanager
def served(settings: NodeSettings, http: str | None = None) -> Iterator[tuple[str, int]]:
    """The node under uvicorn in a thread, configured as `v11ops node run` configures it."""
    port = free_port()
    app = build_app(settings)
    config = uvicorn_config(app, settings, "127.0.0.1", port, drain_timeout_s=1, http=http)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="node-under-test", daemon=True)
    thread.start()
    try:
        _wait_ready(f"http://127.0.0.1:{port}", thread)
        yield f"http://127.0.0.1:{port}", port
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def _wait_ready(url: str, thread: threading.Thread) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert thread.is_alive(), "the server thread ended"
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{url}/q/health/ready", timeout=1).status_code == 200:
                return
        time.sleep(0.05)
    raise AssertionError("the node never became ready")


def _settings(db_url: str, **overrides: object) -> NodeSettings:
    return NodeSettings(
        db_url=db_url,
        node_id="wire",
        block_interval_s=0.05,
        verify_processes=0,
        **overrides,  # type: ignore[arg-type]
    )


def _exchange(port: int, data: bytes) -> bytes:
    """Everything the server answers `data` until it closes the connection (a server that keeps
    it open fails the test with a timeout)."""
    return read_to_eof(port, data, timeout=10)


def _status(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1])


# -- oversized heads -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def wire_nodes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str | None, int]]:
    """One node per HTTP implementation, an 8 KiB head limit, a 64 KiB body limit."""
    ports: dict[str | None, int] = {}
    with contextlib.ExitStack() as stack:
        for http in (None, "h11"):
            db = f"sqlite:///{tmp_path_factory.mktemp('wire') / 'ledger.db'}"
            settings = _settings(db, max_header_bytes=8192, max_body_bytes=65536)
            ports[http] = stack.enter_context(served(settings, http))[1]
        yield ports


def _get(extra_headers: bytes) -> bytes:
    return b"GET /api/v11/info HTTP/1.1\r\nhost: node\r\n" + extra_headers + b"\r\n"


@pytest.mark.parametrize("http", PROTOCOLS)
def test_a_head_within_the_limit_is_served(wire_nodes: dict[str | None, int], http: str) -> None:
    answer = _exchange(
        wire_nodes[http], _get(b"x-big: " + b"a" * 6000 + b"\r\nconnection: close\r\n")
    )
    assert _status(answer) == 200


@pytest.mark.parametrize("http", PROTOCOLS)
def test_an_oversized_head_is_refused(wire_nodes: dict[str | None, int], http: str | None) -> None:
    big = b"x-big: " + b"a" * 20_000 + b"\r\nconnection: close\r\n"
    answer = _exchange(wire_nodes[http], _get(big))
    # A head that arrives whole passes both parsers (h11's limit is on *unfinished* events):
    # the node's guard measures it (or, with httptools, the protocol if it came in pieces).
    assert _status(answer) == 431


@pytest.mark.parametrize("http", PROTOCOLS)
def test_a_head_that_never_ends_is_cut_off_at_the_limit(
    wire_nodes: dict[str | None, int], http: str | None
) -> None:
    endless = b"GET /api/v11/info HTTP/1.1\r\nhost: node\r\nx-slow: " + b"a" * 12_000
    answer = _exchange(wire_nodes[http], endless)  # never finished: the server must close
    # Our bounded httptools protocol says 431; uvicorn's h11 one answers h11's error with 400.
    assert _status(answer) == (431 if http is None else 400)


def test_the_bounded_protocol_is_the_one_served() -> None:
    assert http_protocol().__name__ == "BoundedHttpToolsProtocol"


# -- oversized bodies ------------------------------------------------------------------------------
def test_a_declared_oversized_body_is_refused_before_it_is_sent(
    wire_nodes: dict[str | None, int],
) -> None:
    head = (
        b"POST /api/v11/transactions HTTP/1.1\r\nhost: node\r\ncontent-type: application/json\r\n"
        b"content-length: 100000000\r\n\r\n"
    )
    answer = _exchange(wire_nodes[None], head + b"[" * 1024)  # 1 KiB of 100 MB sent
    assert _status(answer) == 413
    assert b"body is 100000000 bytes; the limit is 65536" in answer


def test_a_streamed_oversized_body_is_cut_off_while_it_streams(
    wire_nodes: dict[str | None, int],
) -> None:
    head = (
        b"POST /api/v11/transactions HTTP/1.1\r\nhost: node\r\ntransfer-encoding: chunked\r\n\r\n"
    )
    chunk = b"8000\r\n" + b" " * 0x8000 + b"\r\n"  # 32 KiB chunks, the last one never sent
    answer = _exchange(wire_nodes[None], head + chunk * 3)
    assert _status(answer) == 413
    assert b"body exceeds the limit of 65536 bytes" in answer


# -- replay ----------------------------------------------------------------------------------------
def _balances(url: str, *accounts: int) -> list[tuple[int, int]]:
    out = []
    for index in accounts:
        body = httpx.get(f"{url}/api/v11/accounts/{dev_address(index).hex()}").json()
        out.append((body["balance"], body["nonce"]))
    return out


def _wait_confirmed(url: str, tx_hash: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if httpx.get(f"{url}/api/v11/transactions/{tx_hash}").json()["status"] == "CONFIRMED":
            return
        time.sleep(0.05)
    raise AssertionError(f"{tx_hash} was not confirmed")


async def _submit_concurrently(
    url: str, body: dict[str, object], copies: int
) -> list[httpx.Response]:
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        return await asyncio.gather(
            *(client.post("/api/v11/transactions", json=body) for _ in range(copies))
        )


def test_a_replayed_transaction_is_applied_once(db_url: str) -> None:
    tx = make_transaction(dev_signing_key(40), dev_address(41), 7, 1)
    with served(_settings(db_url)) as (url, _):
        answers = asyncio.run(_submit_concurrently(url, to_json(tx), copies=8))
        codes = sorted(a.status_code for a in answers)
        assert codes == [202] + [409] * 7, codes
        refused = next(a for a in answers if a.status_code == 409).json()
        assert refused["title"] == "Duplicate transaction"
        assert refused["errors"] == [
            {"field": "body", "message": f"transaction {tx.hash.hex()} was already submitted"}
        ]
        _wait_confirmed(url, tx.hash.hex())
        later = httpx.post(f"{url}/api/v11/transactions", json=to_json(tx))
        assert later.status_code == 409, "also once it is in a block"
        assert _balances(url, 40, 41) == [(GENESIS_BALANCE - 7, 1), (GENESIS_BALANCE + 7, 0)]
        metrics = httpx.get(f"{url}/q/metrics").text
        assert 'aurigraph_transactions_total{status="DUPLICATE"} 8.0' in metrics


def test_a_batch_stores_its_new_transactions_and_lists_the_replays(db_url: str) -> None:
    a = make_transaction(dev_signing_key(42), dev_address(43), 1, 1)
    b = make_transaction(dev_signing_key(42), dev_address(43), 1, 2)
    with served(_settings(db_url)) as (url, _):
        submit = f"{url}/api/v11/transactions"
        assert httpx.post(submit, json=to_json(a)).status_code == 202
        mixed = httpx.post(submit, json={"transactions": [to_json(a), to_json(b), to_json(b)]})
        assert mixed.status_code == 202
        assert mixed.json() == {
            "count": 1,
            "hashes": [b.hash.hex()],
            "duplicates": [{"index": 0, "hash": a.hash.hex()}, {"index": 2, "hash": b.hash.hex()}],
        }
        again = httpx.post(submit, json={"transactions": [to_json(b)]})
        assert again.status_code == 409
        assert again.json()["errors"][0]["field"] == "transactions[0]"
        _wait_confirmed(url, b.hash.hex())
        assert _balances(url, 42) == [(GENESIS_BALANCE - 2, 2)]
