"""A small stand-in for the node's transaction API, served by uvicorn on a loopback port.

It follows the node's contract (202 with hashes, problem+json errors) and checks what a load
generator must guarantee: every signature verifies, nonces strictly increase per sender, and no
sender has two requests in flight at once. `script` makes it answer the n-th write request with
`script[n % len(script)]`; `stall` makes every write request wait until the server stops.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from v11node.ledger.transaction import Transaction


@dataclass
class FakeNode:
    script: Sequence[int] = (202,)
    stall: bool = False
    delay_s: float = 0.0
    stopping: bool = False
    writes: int = 0
    reads: Counter[str] = field(default_factory=Counter)
    stored: list[Transaction] = field(default_factory=list)
    bad_signatures: int = 0
    nonce_regressions: int = 0
    overlaps: int = 0
    api_keys: Counter[str] = field(default_factory=Counter)
    last_nonce: dict[bytes, int] = field(default_factory=dict)
    in_flight: Counter[bytes] = field(default_factory=Counter)

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/api/v11/transactions", self.submit, methods=["POST"]),
                Route("/api/v11/stats", self.read, methods=["GET"]),
                Route("/api/v11/info", self.read, methods=["GET"]),
            ]
        )

    async def read(self, request: Request) -> Response:
        self.reads[request.url.path] += 1
        return Response(orjson.dumps({"ok": True}), media_type="application/json")

    async def submit(self, request: Request) -> Response:
        raw = orjson.loads(await request.body())
        txs = [_parse(item) for item in raw.get("transactions", [raw])]
        self.api_keys[request.headers.get("x-api-key", "")] += 1
        senders = {tx.sender for tx in txs}
        for sender in senders:
            self.in_flight[sender] += 1
            if self.in_flight[sender] > 1:
                self.overlaps += 1
        try:
            status = self.script[self.writes % len(self.script)]
            self.writes += 1
            if self.stall:
                while not self.stopping:
                    await asyncio.sleep(0.01)
            elif self.delay_s:
                await asyncio.sleep(self.delay_s)
            if not all(tx.verify() for tx in txs):
                self.bad_signatures += 1
                return _problem(400, "transactions[0].signature", "bad signature")
            if status != 202:
                return _problem(status, "transactions", "scripted answer")
            for tx in txs:
                if tx.nonce <= self.last_nonce.get(tx.sender, 0):
                    self.nonce_regressions += 1
                self.last_nonce[tx.sender] = tx.nonce
                self.stored.append(tx)
            body = {"count": len(txs), "hashes": [tx.hash.hex() for tx in txs]}
            return Response(orjson.dumps(body), status_code=202, media_type="application/json")
        finally:
            for sender in senders:
                self.in_flight[sender] -= 1


def _parse(item: dict[str, Any]) -> Transaction:
    return Transaction(
        sender=bytes.fromhex(item["sender"]),
        recipient=bytes.fromhex(item["recipient"]),
        amount=item["amount"],
        nonce=item["nonce"],
        memo=item.get("memo", ""),
        signature=bytes.fromhex(item["signature"]),
    )


def _problem(status: int, field_name: str, message: str) -> Response:
    body = {
        "type": "about:blank",
        "title": "rejected",
        "status": status,
        "detail": message,
        "errors": [{"field": field_name, "message": message}],
    }
    return Response(orjson.dumps(body), status_code=status, media_type="application/problem+json")


@contextmanager
def serve(node: FakeNode) -> Iterator[str]:
    """Serve `node` on 127.0.0.1 (a free port) in a thread; yield its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        node.app(), log_level="warning", lifespan="off", timeout_graceful_shutdown=2
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    for _ in range(500):
        if server.started:
            break
        time.sleep(0.01)
    assert server.started, "fake node did not start within 5 s"
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        node.stopping = True
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def closed_port() -> int:
    """A loopback port with nothing listening on it (connections are refused)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port
