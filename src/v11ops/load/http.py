"""The load generator's HTTP/1.1 client: kept-alive connections, answers parsed by httptools.

Why not httpx, which the rest of v11ops uses: the load generator shares the machine's cores with
the node it measures, so its own cost per request is taken from the figure it reports. httpx
spent about 2.5 ms of CPU per request here (25 µs per transaction in batches of 100, a seventh of
the two cores' budget at the node's limit); this client costs a few tens of microseconds, for the
same reason wrk, vegeta and k6 carry their own. It does only what the generator needs: GET, and
POST with a prebuilt body; fixed headers; one request at a time per connection; keep-alive; TLS
with the system's trust store; a timeout per request; and errors that say whether the request may
have reached the server. Answers must carry a Content-Length or be chunked (uvicorn, nginx and
the builtin router always do); one delimited by closing the connection counts as a disconnect.
"""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass
from typing import cast
from urllib.parse import urlsplit

import httptools

from v11ops.load import tally as kinds


class TransportError(Exception):
    """A request that got no answer. `may_have_arrived`: the server may hold the request."""

    kind = kinds.OTHER
    may_have_arrived = True


class ConnectFailed(TransportError):
    kind = kinds.CONNECT
    may_have_arrived = False


class TimedOut(TransportError):
    kind = kinds.TIMEOUT


class Disconnected(TransportError):
    kind = kinds.DISCONNECTED


@dataclass(frozen=True, slots=True)
class Response:
    status_code: int
    content: bytes


class _Connection(asyncio.Protocol):
    """One kept-alive connection; at most one request in flight on it."""

    def __init__(self) -> None:
        self._parser = httptools.HttpResponseParser(self)
        self._transport: asyncio.Transport | None = None
        self._answer: asyncio.Future[Response] | None = None
        self._body: list[bytes] = []
        self._status = 0
        self.reusable = True

    # -- asyncio.Protocol --------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it
        self._transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(Disconnected(f"malformed answer: {exc}"))
            self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.reusable = False
        self._fail(Disconnected(f"connection closed before the answer was complete ({exc})"))

    # -- httptools callbacks -----------------------------------------------------------------
    def on_headers_complete(self) -> None:
        self._status = self._parser.get_status_code()

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        self.reusable = self.reusable and self._parser.should_keep_alive()
        answer, self._answer = self._answer, None
        content, self._body = b"".join(self._body), []
        if answer is not None and not answer.done():
            answer.set_result(Response(self._status, content))
        elif answer is None:  # an answer nobody asked for: the connection is out of step
            self.reusable = False

    # -- client side -------------------------------------------------------------------------
    def send(self, request: bytes) -> asyncio.Future[Response]:
        assert self._transport is not None and self._answer is None
        self._answer = asyncio.get_running_loop().create_future()
        self._transport.write(request)
        return self._answer

    def close(self) -> None:
        self.reusable = False
        if self._transport is not None:
            self._transport.close()

    def _fail(self, error: TransportError) -> None:
        answer, self._answer = self._answer, None
        if answer is not None and not answer.done():
            answer.set_exception(error)


class LoadClient:
    """Requests to one target. The caller caps how many are in flight (one connection each)."""

    def __init__(self, target: str, headers: dict[str, str], timeout_s: float) -> None:
        url = urlsplit(target)
        self._host = url.hostname or "127.0.0.1"
        self._tls = ssl.create_default_context() if url.scheme == "https" else None
        self._port = url.port or (443 if self._tls else 80)
        self._base_path = url.path.rstrip("/")
        self._timeout_s = timeout_s
        lines = [f"Host: {url.netloc}", *(f"{k}: {v}" for k, v in headers.items())]
        self._headers = ("\r\n".join(lines) + "\r\n").encode("latin-1")
        self._idle: list[_Connection] = []
        self._all: set[_Connection] = set()

    async def get(self, path: str) -> Response:
        return await self._exchange(self._head("GET", path, None))

    async def post(self, path: str, body: bytes) -> Response:
        return await self._exchange(self._head("POST", path, len(body)) + body)

    async def aclose(self) -> None:
        for conn in self._all:
            conn.close()
        self._all.clear()
        self._idle.clear()
        await asyncio.sleep(0)  # let the transports close their sockets

    async def __aenter__(self) -> LoadClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()

    def _head(self, method: str, path: str, length: int | None) -> bytes:
        start = f"{method} {self._base_path}{path} HTTP/1.1\r\n".encode("latin-1")
        size = b"" if length is None else b"Content-Length: %d\r\n" % length
        return start + self._headers + size + b"\r\n"

    async def _exchange(self, request: bytes) -> Response:
        conn = await self._connection()
        try:
            async with asyncio.timeout(self._timeout_s):
                response = await conn.send(request)
        except TimeoutError:
            self._discard(conn)
            raise TimedOut(f"no answer within {self._timeout_s:g} s") from None
        except BaseException:  # a disconnect, or the caller cancelled: the stream is out of step
            self._discard(conn)
            raise
        if conn.reusable:
            self._idle.append(conn)
        else:
            self._discard(conn)
        return response

    async def _connection(self) -> _Connection:
        while self._idle:
            conn = self._idle.pop()
            if conn.reusable:
                return conn
            self._discard(conn)
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self._timeout_s):
                _, conn = await loop.create_connection(
                    _Connection, self._host, self._port, ssl=self._tls
                )
        except TimeoutError:
            raise ConnectFailed(f"no connection within {self._timeout_s:g} s") from None
        except OSError as exc:
            raise ConnectFailed(f"cannot connect to {self._host}:{self._port}: {exc}") from exc
        self._all.add(conn)
        return conn

    def _discard(self, conn: _Connection) -> None:
        conn.close()
        self._all.discard(conn)
