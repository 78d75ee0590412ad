"""Run the node under uvicorn with a graceful drain.

On SIGTERM the node reports not-ready at once; after `shutdown_delay_s` (time for a load balancer
to notice) uvicorn stops accepting, waits up to the drain timeout for requests in flight, then
the producer commits what is pending and hands its lease over, and the process exits 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable
from types import FrameType

import structlog
import uvicorn
from fastapi import FastAPI

from v11node.api.app import create_app
from v11node.api.guards import SECURITY_HEADERS
from v11node.node import Node, NodeSettings

log = structlog.get_logger("v11node.server")


# Collector tuning for a serving process: request handling allocates many short-lived objects, and
# with CPython's default (700) generation-0 threshold the collector ran about every request.
GC_THRESHOLDS = (50_000, 20, 20)

# How long a thread may hold the GIL while another waits for it (CPython's default: 5 ms). The
# writer thread releases the GIL inside every SQLite call and must take it back from the event
# loop after each; at the default it waited up to 5 ms each time. Interleaved runs at 14k tx/s
# (SQLite, docs/benchmarks.md, session 5): median accept latency 49-63 ms at 5 ms and 31-43 ms
# at 0.2-1 ms; writer thread busy 79-81 % against 71-76 %; node CPU per transaction unchanged.
GIL_SWITCH_INTERVAL_S = 0.0005


def build_app(
    settings: NodeSettings, tune_gc: bool = False, clock: Callable[[], float] = time.monotonic
) -> FastAPI:
    node = Node(settings)
    app = create_app(node, clock)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        # Storage opens in the background so /q/health/live and /started answer during recovery.
        opening = asyncio.create_task(_start(node, tune_gc))
        yield
        if not opening.done():
            opening.cancel()
        await node.stop()

    app.router.lifespan_context = lifespan
    return app


async def _start(node: Node, tune_gc: bool) -> None:
    try:
        await node.start()
    except Exception as exc:  # startup failure: stay alive but never ready, and say why
        log.error("node failed to start", error=str(exc))
        node.start_error = str(exc)
        return
    if tune_gc:
        # Everything built at startup lives as long as the process: keep it out of collections.
        gc.collect()
        gc.freeze()
        gc.set_threshold(*GC_THRESHOLDS)


class _DrainingServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, node: Node, shutdown_delay_s: float) -> None:
        super().__init__(config)
        self._node = node
        self._delay = shutdown_delay_s
        self._exit_requested = False

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        self._node.begin_drain()
        if self._exit_requested or self._delay <= 0:
            self._exit_now(sig, frame)
            return
        self._exit_requested = True
        timer = threading.Timer(self._delay, self._exit_now, (sig, frame))
        timer.daemon = True
        timer.start()

    def _exit_now(self, sig: int, frame: FrameType | None) -> None:
        super().handle_exit(sig, frame)
        # uvicorn re-raises a captured signal after shutdown; a completed drain is a clean exit (0).
        self._captured_signals.clear()


def http_protocol() -> type[asyncio.Protocol]:
    """httptools when it is installed (what uvicorn's "auto" picks), bounded; else h11, which
    bounds the head itself (`h11_max_incomplete_event_size`)."""
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
    except ImportError:  # pragma: no cover - httptools is a dependency of the node
        from uvicorn.protocols.http.h11_impl import H11Protocol

        return H11Protocol

    class BoundedHttpToolsProtocol(HttpToolsProtocol):
        """httptools (llhttp) puts no bound on a request's head: a client could send header
        bytes forever and the parser would keep them. This counts the bytes received while a
        head is unfinished and answers 431 once they pass the limit h11 applies to unfinished
        events, read from the same Config field. (A head that arrives whole is measured by the
        app's guard, for both implementations: neither parser limits a complete head.)"""

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._head_limit = self.config.h11_max_incomplete_event_size or 16 * 1024
            self._head_received = 0
            self._in_head = True

        def data_received(self, data: bytes) -> None:
            if self._in_head:
                self._head_received += len(data)
            super().data_received(data)
            # Still in the head after parsing: every byte counted so far was head.
            too_large = self._in_head and self._head_received > self._head_limit
            if too_large and not self.transport.is_closing():
                self.transport.write(_HEAD_TOO_LARGE)
                self.transport.close()

        def on_headers_complete(self) -> None:
            self._in_head = False
            super().on_headers_complete()

        def on_message_complete(self) -> None:
            super().on_message_complete()
            self._in_head, self._head_received = True, 0

    return BoundedHttpToolsProtocol


def _raw_response(status: bytes, text: bytes) -> bytes:
    head = [b"HTTP/1.1 " + status, b"content-type: text/plain; charset=utf-8"]
    head += [b"content-length: " + str(len(text)).encode(), b"connection: close"]
    head += [name + b": " + value for name, value in SECURITY_HEADERS]
    return b"\r\n".join(head) + b"\r\n\r\n" + text


_HEAD_TOO_LARGE = _raw_response(
    b"431 Request Header Fields Too Large", b"the request line and headers are too large"
)


def uvicorn_config(
    app: FastAPI,
    settings: NodeSettings,
    host: str,
    port: int,
    drain_timeout_s: float = 30.0,
    http: type[asyncio.Protocol] | str | None = None,
) -> uvicorn.Config:
    """The server settings: the head-size limit, no Server header, no access log."""
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        loop="auto",
        http=http or http_protocol(),
        h11_max_incomplete_event_size=settings.max_header_bytes,
        server_header=False,
        lifespan="on",
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=int(max(drain_timeout_s, 1)),
        timeout_keep_alive=30,
    )


def serve(
    settings: NodeSettings,
    host: str = "127.0.0.1",
    port: int = 9003,
    drain_timeout_s: float = 30.0,
    shutdown_delay_s: float = 0.0,
) -> None:
    sys.setswitchinterval(GIL_SWITCH_INTERVAL_S)
    app = build_app(settings, tune_gc=True)
    config = uvicorn_config(app, settings, host, port, drain_timeout_s)
    _DrainingServer(config, app.state.node, shutdown_delay_s).run()
