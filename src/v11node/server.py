"""Run the node under uvicorn with a graceful drain.

On SIGTERM the node reports not-ready at once; after `shutdown_delay_s` (time for a load balancer
to notice) uvicorn stops accepting, waits up to the drain timeout for requests in flight, then
the producer commits what is pending and hands its lease over, and the process exits 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import threading
from collections.abc import AsyncIterator
from types import FrameType

import structlog
import uvicorn
from fastapi import FastAPI

from v11node.api.app import create_app
from v11node.node import Node, NodeSettings

log = structlog.get_logger("v11node.server")


# Collector tuning for a serving process: request handling allocates many short-lived objects, and
# with CPython's default (700) generation-0 threshold the collector ran about every request.
GC_THRESHOLDS = (50_000, 20, 20)


def build_app(settings: NodeSettings, tune_gc: bool = False) -> FastAPI:
    node = Node(settings)
    app = create_app(node)

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


def serve(
    settings: NodeSettings,
    host: str = "127.0.0.1",
    port: int = 9003,
    drain_timeout_s: float = 30.0,
    shutdown_delay_s: float = 0.0,
) -> None:
    app = build_app(settings, tune_gc=True)
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        loop="auto",
        http="auto",
        lifespan="on",
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=int(max(drain_timeout_s, 1)),
        timeout_keep_alive=30,
    )
    _DrainingServer(config, app.state.node, shutdown_delay_s).run()
