"""The router's control HTTP server on its own: keep-alive, limits, bad requests, handler bugs."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Iterator

import pytest

from tests.router.harness import LoopThread, raw_exchange, read_to_eof
from v11ops.router.control_http import (
    MAX_BODY,
    ControlRequest,
    ControlResponse,
    connection_handler,
)


async def _handler(request: ControlRequest) -> ControlResponse:
    if request.path == "/bug":
        raise KeyError("slot")
    if request.path == "/json":
        return ControlResponse.json(200, {"got": request.json()})
    return ControlResponse.json(200, {"path": request.path, "query": request.query})


@pytest.fixture
def port(loop: LoopThread) -> Iterator[int]:
    server = loop.run(asyncio.start_server(connection_handler(_handler), "127.0.0.1", 0))
    yield int(server.sockets[0].getsockname()[1])

    async def close() -> None:
        server.close()
        await server.wait_closed()

    loop.run(close())


def _one_response(sock: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
    while len(body) < length:
        body += sock.recv(65536)
    return head + b"\r\n\r\n" + body


def _bodies(raw: bytes) -> list[dict[str, object]]:
    parts = raw.split(b"HTTP/1.1 ")[1:]
    return [json.loads(part.partition(b"\r\n\r\n")[2]) for part in parts]


def test_keep_alive_answers_several_requests_on_one_connection(port: int) -> None:
    raw = b""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        for request in (b"GET /a?x=1 HTTP/1.1\r\nHost: r\r\n\r\n", b"GET /b HTTP/1.1\r\n\r\n"):
            sock.sendall(request)
            answer = _one_response(sock)
            assert answer.startswith(b"HTTP/1.1 200"), answer
            raw += answer
    assert _bodies(raw) == [{"path": "/a", "query": {"x": "1"}}, {"path": "/b", "query": {}}]
    assert b"connection: close" not in raw
    assert b"cache-control: no-store" in raw


def test_connection_close_is_honoured(port: int) -> None:
    raw = read_to_eof(port, b"GET /a HTTP/1.1\r\nHost: r\r\nConnection: close\r\n\r\n", timeout=2)
    assert b"connection: close" in raw


def test_a_handler_bug_is_a_500_not_a_dead_router(port: int) -> None:
    raw = raw_exchange(port, b"GET /bug HTTP/1.1\r\nHost: r\r\n\r\n")
    assert raw.startswith(b"HTTP/1.1 500 Internal Server Error")
    assert _bodies(raw) == [{"error": "internal error: KeyError: 'slot'"}]


def test_a_body_over_the_limit_is_refused_with_413(port: int) -> None:
    size = MAX_BODY + 1
    head = f"PUT /json HTTP/1.1\r\nHost: r\r\nContent-Length: {size}\r\n\r\n"
    raw = raw_exchange(port, head.encode() + b"x" * size)
    assert raw.startswith(b"HTTP/1.1 413")
    assert _bodies(raw) == [{"error": f"body larger than {MAX_BODY} bytes"}]


def test_a_json_body_is_parsed_and_a_bad_one_explained(port: int) -> None:
    body = b'{"weight": 10}'
    head = f"PUT /json HTTP/1.1\r\nHost: r\r\nContent-Length: {len(body)}\r\n\r\n"
    raw = raw_exchange(port, head.encode() + body)
    assert _bodies(raw) == [{"got": {"weight": 10}}]
    with pytest.raises(ValueError, match=r"^request body is not valid JSON: "):
        ControlRequest("PUT", "/json", {}, {}, b"{").json()
    with pytest.raises(ValueError, match=r"^request body is empty; send a JSON object$"):
        ControlRequest("PUT", "/json", {}, {}).json()


def test_a_request_that_is_not_http_closes_the_connection_without_an_answer(port: int) -> None:
    assert read_to_eof(port, b"\x16\x03\x01 not http\r\n\r\n", timeout=10) == b""
