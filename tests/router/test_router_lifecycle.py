"""Starting next to another router, and stopping with requests in flight (in process)."""

from __future__ import annotations

import socket
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.router.conftest import StartUpstream
from tests.router.harness import LoopThread, start_router
from v11ops.router import RouterConfig, RouterError, RouterServer, RouteTable
from v11ops.router.proxy import ProxySettings

# The client sees its connection closed (cleanly or by a reset) before a whole response.
CUT_OFF = (httpx.RemoteProtocolError, httpx.ReadError)


def test_a_second_router_on_the_same_admin_socket_is_refused(
    loop: LoopThread, short_dir: Path
) -> None:
    first = loop.run(start_router(short_dir))
    try:
        second = RouterServer(
            RouterConfig(
                state_file=short_dir / "other.json",
                listen=("127.0.0.1", 0),
                admin_socket=short_dir / "admin.sock",
            )
        )
        with pytest.raises(RouterError, match="another router is already serving the admin"):
            loop.run(second.start())
        loop.run(second.stop())
    finally:
        loop.run(first.stop())
    assert not (short_dir / "admin.sock").exists(), "the first router removed its socket"


def test_a_socket_file_left_by_a_dead_router_is_replaced(loop: LoopThread, short_dir: Path) -> None:
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(str(short_dir / "admin.sock"))
    stale.close()  # the file stays, nothing listens: what a killed router leaves behind
    server = loop.run(start_router(short_dir))
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
            probe.connect(str(short_dir / "admin.sock"))
    finally:
        loop.run(server.stop())


def _router(loop: LoopThread, short_dir: Path, table: RouteTable, timeout_s: float) -> RouterServer:
    server = RouterServer(
        RouterConfig(
            state_file=short_dir / "state.json",
            listen=("127.0.0.1", 0),
            admin_socket=short_dir / "admin.sock",
            shutdown_timeout_s=timeout_s,
            proxy=ProxySettings(tick_s=0.05),
            initial_table=table,
        )
    )
    loop.run(server.start())
    return server


def test_shutdown_lets_a_request_in_flight_finish_and_closes_its_connection(
    loop: LoopThread, upstream: StartUpstream, short_dir: Path
) -> None:
    blue = upstream("blue")
    server = _router(loop, short_dir, RouteTable((blue.target(),)), timeout_s=10)
    with ThreadPoolExecutor(1) as pool:
        url = f"http://127.0.0.1:{server.port}/?sleep=0.5"
        answer = pool.submit(httpx.get, url, timeout=10)
        blue.wait_sleeping()
        loop.run(server.stop())
        response = answer.result()
    assert response.status_code == 200 and response.json()["name"] == "blue"
    assert response.headers["connection"] == "close"


def test_shutdown_cuts_requests_that_outlast_its_timeout(
    loop: LoopThread, upstream: StartUpstream, short_dir: Path
) -> None:
    blue = upstream("blue")
    server = _router(loop, short_dir, RouteTable((blue.target(),)), timeout_s=0.2)
    with ThreadPoolExecutor(1) as pool:
        url = f"http://127.0.0.1:{server.port}/?sleep=3"
        answer = pool.submit(httpx.get, url, timeout=10)
        blue.wait_sleeping()
        loop.run(server.stop())
        with pytest.raises(CUT_OFF):
            answer.result()
