from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.router.harness import (
    LoopThread,
    RouterHandle,
    Upstream,
    start_router,
    start_upstream,
    stop_upstream,
)
from v11ops.router import RouteTable, Target

StartUpstream = Callable[[str], Upstream]
StartRouter = Callable[..., RouterHandle]


@pytest.fixture
def loop() -> Iterator[LoopThread]:
    thread = LoopThread()
    yield thread
    thread.close()


@pytest.fixture
def short_dir() -> Iterator[Path]:
    """A directory with a short path: unix socket paths are limited to 107 bytes."""
    path = Path(tempfile.mkdtemp(prefix="v11r-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def upstream(loop: LoopThread) -> Iterator[StartUpstream]:
    started: list[Upstream] = []

    def start(name: str) -> Upstream:
        up = loop.run(start_upstream(name))
        started.append(up)
        return up

    yield start
    for up in started:
        loop.run(stop_upstream(up))


@pytest.fixture
def router(loop: LoopThread, short_dir: Path) -> Iterator[StartRouter]:
    handles: list[RouterHandle] = []

    def start(*targets: Target, table: RouteTable | None = None, **kwargs: Any) -> RouterHandle:
        if table is None and targets:
            table = RouteTable(tuple(targets))
        server = loop.run(start_router(short_dir, table, **kwargs))
        handle = RouterHandle(server, short_dir / "admin.sock", short_dir / "router-state.json")
        handles.append(handle)
        return handle

    yield start
    for handle in handles:
        for client in handle.clients:
            client.close()
        loop.run(handle.server.stop())
