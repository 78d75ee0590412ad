"""The router's control listeners (admin API, /metrics) bound request heads like the data path."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from tests.attacks.wire import ENDLESS, push_until_cut
from tests.router.harness import LoopThread, read_to_eof
from v11ops.router.control_http import (
    MAX_HEAD,
    MAX_HEADERS,
    MAX_URL,
    ControlRequest,
    ControlResponse,
    connection_handler,
)


async def _echo(request: ControlRequest) -> ControlResponse:
    return ControlResponse.json(200, {"path": request.path})


@pytest.fixture
def port(loop: LoopThread) -> Iterator[int]:
    server = loop.run(asyncio.start_server(connection_handler(_echo), "127.0.0.1", 0))
    yield int(server.sockets[0].getsockname()[1])

    async def close() -> None:
        server.close()
        await server.wait_closed()

    loop.run(close())


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"GET /" + b"a" * MAX_URL + b" HTTP/1.1\r\n\r\n", b"414"),
        (b"GET / HTTP/1.1\r\n" + b"X: y\r\n" * (MAX_HEADERS + 1) + b"\r\n", b"431"),
        (b"GET / HTTP/1.1\r\nX-Big: " + b"v" * MAX_HEAD + b"\r\n\r\n", b"431"),
    ],
    ids=["url", "count", "size"],
)
def test_an_oversized_head_is_refused_and_closed(
    port: int, request_bytes: bytes, status: bytes
) -> None:
    raw = read_to_eof(port, request_bytes)
    assert raw.startswith(b"HTTP/1.1 " + status) and b"connection: close" in raw


def test_a_header_that_never_ends_is_cut(port: int) -> None:
    sent, answer = push_until_cut(port, b"GET / HTTP/1.1\r\nX-Endless: ")
    assert sent < ENDLESS, "the control server kept reading an endless header"
    assert not answer or answer.startswith(b"HTTP/1.1 431")


def test_the_next_request_on_the_listener_is_still_served(port: int) -> None:
    read_to_eof(port, b"GET /" + b"a" * (MAX_URL + 1) + b" HTTP/1.1\r\n\r\n")
    raw = read_to_eof(port, b"GET /ok HTTP/1.1\r\nConnection: close\r\n\r\n")
    assert raw.startswith(b"HTTP/1.1 200") and raw.endswith(b'"/ok"\n}\n')
