"""Upstreams that answer unusually: interim responses, bodies that end at close, garbage,
a reset in the middle of a body, their own request id. Each upstream is a scripted asyncio
server on loopback."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable, Iterator

import httpx
import pytest

from tests.router.conftest import StartRouter
from tests.router.harness import LoopThread
from v11ops.router import Target

Scripted = Callable[[bytes], str]

# The client sees its connection closed (cleanly or by a reset) before a whole response.
CUT_OFF = (httpx.RemoteProtocolError, httpx.ReadError)


@pytest.fixture
def scripted(loop: LoopThread) -> Iterator[Scripted]:
    """`scripted(reply)`: the URL of an upstream that reads a request head, writes `reply`
    and closes the connection."""
    servers: list[asyncio.Server] = []

    async def start(reply: bytes) -> asyncio.Server:
        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(reply)
            await writer.drain()
            writer.close()

        return await asyncio.start_server(serve, "127.0.0.1", 0)

    def make(reply: bytes) -> str:
        server = loop.run(start(reply))
        servers.append(server)
        return f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"

    yield make

    async def close(server: asyncio.Server) -> None:
        server.close()
        await server.wait_closed()

    for server in servers:
        loop.run(close(server))


def _read_to_eof(port: int, request: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(request)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
        return data


def test_an_interim_response_is_not_mistaken_for_the_answer(
    scripted: Scripted, router: StartRouter
) -> None:
    url = scripted(b"HTTP/1.1 102 Processing\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
    r = router(Target("up", url))
    response = httpx.get(r.url)
    assert (response.status_code, response.text) == (200, "ok")


def test_a_body_that_ends_at_close_is_rechunked_for_http11_clients(
    scripted: Scripted, router: StartRouter
) -> None:
    url = scripted(b"HTTP/1.1 200 OK\r\nX-Kind: eof\r\nConnection: close\r\n\r\nuntil the end")
    r = router(Target("up", url))
    response = httpx.get(r.url)
    assert response.status_code == 200 and response.text == "until the end"
    assert response.headers["transfer-encoding"] == "chunked"
    assert response.headers["x-kind"] == "eof"


def test_an_http10_client_reads_an_unframed_body_to_the_close(
    scripted: Scripted, router: StartRouter
) -> None:
    url = scripted(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nold client body")
    r = router(Target("up", url))
    raw = _read_to_eof(r.server.port, b"GET / HTTP/1.0\r\n\r\n")
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    assert b"connection: close" in head.lower() and b"transfer-encoding" not in head.lower()
    assert body == b"old client body"


def test_an_upstream_that_does_not_speak_http_gets_502(
    scripted: Scripted, router: StartRouter
) -> None:
    url = scripted(b"SSH-2.0-OpenSSH_9.6\r\n\r\n")
    r = router(Target("up", url))
    response = httpx.get(r.url)
    assert response.status_code == 502
    assert "up" in response.json()["error"]
    assert r.client().stats().slot("up").errors == {"reset": 1}


def test_a_body_cut_short_by_the_upstream_is_cut_short_for_the_client(
    scripted: Scripted, router: StartRouter
) -> None:
    url = scripted(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly part")
    r = router(Target("up", url))
    with pytest.raises(CUT_OFF):
        httpx.get(r.url)  # never a complete-looking wrong response
    assert r.client().stats().slot("up").errors == {"reset": 1}


def test_a_request_id_the_upstream_sets_is_passed_on_unchanged(
    scripted: Scripted, router: StartRouter
) -> None:
    url = scripted(b"HTTP/1.1 200 OK\r\nX-Request-Id: up-7\r\nContent-Length: 0\r\n\r\n")
    r = router(Target("up", url))
    response = httpx.get(r.url, headers={"x-request-id": "client-1"})
    assert response.headers.get_list("x-request-id") == ["up-7"]
