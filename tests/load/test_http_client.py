"""The load generator's HTTP client against raw servers on loopback that answer exactly as told:
keep-alive reuse, chunked and Connection: close answers, and each way a request can fail."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import pytest

from tests.load.fake_node import closed_port
from v11ops.load.http import ConnectFailed, Disconnected, LoadClient, TimedOut

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


async def read_request(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    """The head and body of one request (the client always sends Content-Length for a body)."""
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
    return head, await reader.readexactly(length)


@asynccontextmanager
async def server(handler: Handler) -> AsyncIterator[tuple[str, list[int]]]:
    """A server on a loopback port; also yields the count of connections it accepted."""
    connections: list[int] = []

    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(1)
        try:
            await handler(reader, writer)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    srv = await asyncio.start_server(accept, "127.0.0.1", 0)
    port = srv.sockets[0].getsockname()[1]
    async with srv:
        yield f"http://127.0.0.1:{port}", connections


async def answer_each(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while True:
        await read_request(reader)
        writer.write(OK)
        await writer.drain()


def test_requests_reuse_one_kept_alive_connection_and_send_the_body_and_headers() -> None:
    seen: list[tuple[bytes, bytes]] = []

    async def record(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            seen.append(await read_request(reader))
            writer.write(b"HTTP/1.1 202 Accepted\r\nContent-Length: 4\r\n\r\nsure")
            await writer.drain()

    async def run() -> list[int]:
        async with server(record) as (url, connections):
            async with LoadClient(url + "/base/", {"X-API-Key": "k1"}, 5.0) as client:
                first = await client.post("/api/v11/transactions", b'{"a": 1}')
                second = await client.get("/api/v11/stats")
            assert (first.status_code, first.content) == (202, b"sure")
            assert second.status_code == 202
            return connections

    assert len(asyncio.run(run())) == 1
    post_head, post_body = seen[0]
    assert post_head.startswith(b"POST /base/api/v11/transactions HTTP/1.1\r\n")
    assert b"X-API-Key: k1\r\n" in post_head and b"Content-Length: 8\r\n" in post_head
    assert post_body == b'{"a": 1}'
    assert seen[1][0].startswith(b"GET /base/api/v11/stats HTTP/1.1\r\n")
    assert b"Content-Length" not in seen[1][0]


def test_a_chunked_answer_is_joined_and_connection_close_opens_a_new_connection() -> None:
    async def chunked_then_close(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        await read_request(reader)
        writer.write(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
            b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"
        )
        await writer.drain()

    async def run() -> tuple[list[bytes], int]:
        async with server(chunked_then_close) as (url, connections):
            async with LoadClient(url, {}, 5.0) as client:
                bodies = [(await client.get("/x")).content for _ in range(3)]
            return bodies, len(connections)

    bodies, connections = asyncio.run(run())
    assert bodies == [b"abcde"] * 3
    assert connections == 3


def test_a_closed_port_is_a_connect_failure_the_request_never_arrived() -> None:
    async def run() -> None:
        async with LoadClient(f"http://127.0.0.1:{closed_port()}", {}, 5.0) as client:
            await client.get("/x")

    with pytest.raises(ConnectFailed, match="cannot connect") as caught:
        asyncio.run(run())
    assert caught.value.may_have_arrived is False


def test_no_answer_within_the_timeout_is_timed_out_and_may_have_arrived() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        await asyncio.sleep(10)

    async def run() -> None:
        async with server(silent) as (url, _), LoadClient(url, {}, 0.2) as client:
            await client.post("/x", b"{}")

    with pytest.raises(TimedOut, match=r"no answer within 0\.2 s") as caught:
        asyncio.run(run())
    assert caught.value.may_have_arrived is True


@pytest.mark.parametrize(
    ("reply", "message"),
    [
        (b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", "closed before the answer"),
        (b"", "closed before the answer"),
        (b"NOT HTTP AT ALL\r\n\r\n", "malformed answer"),
    ],
)
def test_a_cut_or_malformed_answer_is_a_disconnect(reply: bytes, message: str) -> None:
    async def bad(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(reply)
        await writer.drain()

    async def run() -> None:
        async with server(bad) as (url, _), LoadClient(url, {}, 5.0) as client:
            await client.get("/x")

    with pytest.raises(Disconnected, match=message) as caught:
        asyncio.run(run())
    assert caught.value.may_have_arrived is True


def test_a_connection_the_server_closed_while_idle_is_replaced() -> None:
    async def one_then_close(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(OK)
        await writer.drain()

    async def run() -> int:
        async with server(one_then_close) as (url, connections):
            async with LoadClient(url, {}, 5.0) as client:
                await client.get("/x")
                await asyncio.sleep(0.05)  # the server's close reaches the idle connection
                assert (await client.get("/x")).content == b"ok"
            return len(connections)

    assert asyncio.run(run()) == 2
