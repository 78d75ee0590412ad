"""Test harness for the router: an event loop in a thread, small upstream apps, a router.

Everything listens on 127.0.0.1 with port 0. The upstreams are starlette apps under uvicorn that
answer with their name, echo what they received, sleep, or stream slowly.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import socket
import threading
import time
from collections.abc import AsyncIterator, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import uvicorn
import uvloop
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from v11ops.router import RouterClient, RouterConfig, RouterServer, RouteTable, Target
from v11ops.router.proxy import ProxySettings

T = TypeVar("T")


class LoopThread:
    """A uvloop event loop running in a daemon thread; tests submit coroutines to it."""

    def __init__(self) -> None:
        self.loop = uvloop.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 15.0) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


def upstream_app(name: str, active: list[int]) -> Starlette:
    """The app of one upstream; `active[0]` counts requests it is working on."""

    async def echo(request: Request) -> Response:
        body = await request.body()
        if "sleep" in request.query_params:
            active[0] += 1
            try:
                await asyncio.sleep(float(request.query_params["sleep"]))
            finally:
                active[0] -= 1
        headers = {"x-upstream": name}
        if "hop" in request.query_params:
            headers |= {"keep-alive": "timeout=5", "x-secret": "1", "connection": "x-secret"}
        status = int(request.query_params.get("status", "200"))
        data = {
            "name": name,
            "method": request.method,
            "path": request.url.path,
            "headers": [[k, v] for k, v in request.headers.items()],
            "body": body.decode("latin-1"),
        }
        return JSONResponse(data, status_code=status, headers=headers)

    async def stream(request: Request) -> Response:
        count = int(request.query_params.get("n", "5"))
        delay = float(request.query_params.get("delay", "0.05"))

        async def chunks() -> AsyncIterator[bytes]:
            for i in range(count):
                yield f"{name}:{i}\n".encode()
                await asyncio.sleep(delay)

        return StreamingResponse(chunks(), headers={"x-upstream": name})

    methods = ["GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS"]
    return Starlette(
        routes=[Route("/stream", stream), Route("/{path:path}", echo, methods=methods)]
    )


@dataclass
class Upstream:
    name: str
    port: int
    server: uvicorn.Server
    task: asyncio.Task[None]
    active: list[int]

    def wait_sleeping(self, count: int = 1) -> None:
        """Wait (bounded) until `count` requests are asleep inside this upstream."""
        for _ in range(1000):
            if self.active[0] >= count:
                return
            time.sleep(0.005)
        raise AssertionError(f"{self.name} never had {count} sleeping request(s)")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def target(self, weight: int = 100, version: str = "1") -> Target:
        return Target(self.name, self.url, weight, version)


async def start_upstream(name: str) -> Upstream:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    active = [0]
    config = uvicorn.Config(
        upstream_app(name, active),
        log_level="error",
        lifespan="off",
        timeout_keep_alive=30,
        timeout_graceful_shutdown=1,
    )
    server = uvicorn.Server(config)
    task = asyncio.get_running_loop().create_task(server.serve(sockets=[sock]))
    for _ in range(500):
        if server.started:
            break
        await asyncio.sleep(0.01)
    return Upstream(name, sock.getsockname()[1], server, task, active)


async def stop_upstream(upstream: Upstream) -> None:
    upstream.server.should_exit = True
    await asyncio.wait_for(upstream.task, 10)


def closed_port() -> int:
    """A loopback port with nothing listening (bound then released)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = int(sock.getsockname()[1])
    sock.close()
    return port


@dataclass
class RouterHandle:
    server: RouterServer
    socket_path: Path
    state_file: Path
    clients: list[RouterClient] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.port}"

    def client(self) -> RouterClient:
        client = RouterClient(self.socket_path)
        self.clients.append(client)
        return client


async def start_router(
    tmp: Path,
    table: RouteTable | None = None,
    *,
    proxy: ProxySettings | None = None,
    metrics: bool = False,
    admin_token: str | None = None,
    connect_timeout_s: float = 2.0,
) -> RouterServer:
    config = RouterConfig(
        state_file=tmp / "router-state.json",
        listen=("127.0.0.1", 0),
        admin_socket=tmp / "admin.sock",
        admin_listen=("127.0.0.1", 0) if admin_token else None,
        admin_token=admin_token,
        metrics_listen=("127.0.0.1", 0) if metrics else None,
        connect_timeout_s=connect_timeout_s,
        shutdown_timeout_s=5.0,
        proxy=proxy or ProxySettings(tick_s=0.05),
        initial_table=table,
    )
    server = RouterServer(config)
    await server.start()
    return server


def raw_exchange(port: int, data: bytes, *, responses: int = 1, timeout: float = 5.0) -> bytes:
    """Send raw bytes on one connection and read until `responses` complete responses arrived."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        buf = b""
        while _complete_responses(buf) < responses:
            chunk = sock.recv(65536)
            if not chunk:
                break
            buf += chunk
        return buf


def read_to_eof(port: int, data: bytes, timeout: float = 5.0) -> bytes:
    """Send `data` on a new connection; everything answered until the server closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        out = b""
        while chunk := sock.recv(65536):
            out += chunk
        return out


def _complete_responses(buf: bytes) -> int:
    count, pos = 0, 0
    while True:
        end = buf.find(b"\r\n\r\n", pos)
        if end < 0:
            return count
        head = buf[pos:end].lower()
        length = 0
        for line in head.split(b"\r\n"):
            if line.startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        if len(buf) < end + 4 + length:
            return count
        count += 1
        pos = end + 4 + length


async def start_slammer() -> tuple[int, asyncio.Server]:
    """An upstream that reads the request, then closes without answering a byte."""

    async def slam(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(65536)
        writer.close()

    server = await asyncio.start_server(slam, "127.0.0.1", 0)
    return int(server.sockets[0].getsockname()[1]), server
