"""Webhook endpoints on loopback: a receiver that records what arrives, a closed port, and a
port that accepts connections but never answers."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.gates.servers import running
from v11ops.runtime import free_port


@dataclass
class Receiver:
    """Records every JSON POST, by path. `status` is what it answers."""

    url: str = ""
    status: int = 200
    received: list[tuple[str, Any]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def bodies(self, path: str) -> list[Any]:
        with self._lock:
            return [body for p, body in self.received if p == path]

    def app(self) -> Starlette:
        async def hook(request: Request) -> JSONResponse:
            body = await request.json()
            with self._lock:
                self.received.append((request.url.path, body))
            return JSONResponse({"ok": self.status < 300}, status_code=self.status)

        return Starlette(routes=[Route("/{path:path}", hook, methods=["POST"])])


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    with running(r.app()) as url:
        r.url = url
        yield r


@pytest.fixture
def closed_port() -> int:
    """A loopback port nothing listens on: connections are refused."""
    return free_port()


@contextmanager
def hanging() -> Iterator[int]:
    """A loopback port that accepts connections (the kernel's backlog) and never answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(64)
        yield int(sock.getsockname()[1])


@pytest.fixture
def hanging_port() -> Iterator[int]:
    with hanging() as port:
        yield port
