"""A tiny HTTP/1.1 server for the router's control traffic (admin API, /metrics, /health).

Control traffic is a few requests a second, so this favours plain asyncio streams over the
data path's callback protocols; requests are still parsed by httptools, never by hand.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httptools

from v11ops.router.protocol import HeadRefused

MAX_BODY = 1024 * 1024
MAX_URL = 8 * 1024
MAX_HEADERS = 100
MAX_HEAD = 32 * 1024  # header names and values; also caps what httptools buffers unparsed
READ_TIMEOUT_S = 30.0  # one whole request, from its first byte (or the connection's idle start)


@dataclass(slots=True)
class ControlRequest:
    """A parsed control request."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes = b""
    target: str = ""  # the request target as sent (path and query)

    def json(self) -> Any:
        """The body parsed as JSON; ValueError naming the problem if it is not."""
        if not self.body:
            raise ValueError("request body is empty; send a JSON object")
        try:
            return json.loads(self.body)
        except json.JSONDecodeError as exc:
            raise ValueError(f"request body is not valid JSON: {exc}") from None


@dataclass(slots=True)
class ControlResponse:
    """A complete response."""

    status: int
    body: bytes
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, status: int, data: Any) -> ControlResponse:
        """A JSON response."""
        return cls(status, json.dumps(data, indent=1).encode() + b"\n")

    @classmethod
    def error(cls, status: int, message: str) -> ControlResponse:
        """A JSON error `{"error": message}`."""
        return cls.json(status, {"error": message})


Handler = Callable[[ControlRequest], Awaitable[ControlResponse]]


class _Reader:
    """Collects one request from httptools callbacks."""

    def __init__(self) -> None:
        self.parser = httptools.HttpRequestParser(self)
        self.url = b""
        self.headers: dict[str, str] = {}
        self.body = bytearray()
        self.head_size = 0
        self.header_count = 0
        self.head_done = False
        self.keep_alive = False
        self.done = False
        self.too_big = False

    def on_url(self, url: bytes) -> None:
        self.url += url
        if len(self.url) > MAX_URL:
            raise HeadRefused(414, f"request target longer than {MAX_URL} bytes")

    def on_header(self, name: bytes, value: bytes) -> None:
        self.header_count += 1
        self.head_size += len(name) + len(value)
        if self.header_count > MAX_HEADERS:
            raise HeadRefused(431, f"more than {MAX_HEADERS} header lines")
        if self.head_size > MAX_HEAD:
            raise HeadRefused(431, f"headers larger than {MAX_HEAD} bytes")
        self.headers[name.decode("latin-1").lower()] = value.decode("latin-1")

    def on_headers_complete(self) -> None:
        self.head_done = True
        # Read it here: once the message is complete llhttp has reset it for the next one.
        self.keep_alive = self.parser.should_keep_alive()

    def on_body(self, body: bytes) -> None:
        if len(self.body) + len(body) > MAX_BODY:
            self.too_big = True
        else:
            self.body += body

    def on_message_complete(self) -> None:
        self.done = True

    def request(self) -> ControlRequest:
        parts = urlsplit(self.url.decode("latin-1"))
        return ControlRequest(
            method=self.parser.get_method().decode(),
            path=parts.path,
            query=dict(parse_qsl(parts.query)),
            headers=self.headers,
            body=bytes(self.body),
            target=self.url.decode("latin-1"),
        )


async def _read_request(reader: asyncio.StreamReader) -> _Reader | None:
    parsed = _Reader()
    unparsed_head = 0
    while not parsed.done:
        data = await reader.read(65536)
        if not data:
            return None
        parsed.parser.feed_data(data)
        if not parsed.head_done:
            # httptools holds an unfinished header back from on_header; bound it by the reads.
            unparsed_head += len(data)
            if unparsed_head > MAX_URL + MAX_HEAD:
                raise HeadRefused(431, "request head too large")
    return parsed


def _encode(response: ControlResponse, keep_alive: bool) -> bytes:
    phrase = HTTPStatus(response.status).phrase
    head = [
        f"HTTP/1.1 {response.status} {phrase}",
        f"content-type: {response.content_type}",
        f"content-length: {len(response.body)}",
        "cache-control: no-store",
    ]
    head += [f"{k}: {v}" for k, v in response.headers.items()]
    if not keep_alive:
        head.append("connection: close")
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + response.body


def connection_handler(
    handler: Handler,
) -> Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]:
    """An asyncio stream callback serving `handler` with keep-alive."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                try:
                    async with asyncio.timeout(READ_TIMEOUT_S):
                        parsed = await _read_request(reader)
                except (HeadRefused, httptools.HttpParserCallbackError) as exc:
                    refused = exc if isinstance(exc, HeadRefused) else exc.__context__
                    if isinstance(refused, HeadRefused):
                        error = ControlResponse.error(refused.status, str(refused))
                        writer.write(_encode(error, keep_alive=False))
                        await writer.drain()
                    break
                except (TimeoutError, httptools.HttpParserError):
                    break
                if parsed is None:
                    break
                keep_alive = parsed.keep_alive
                if parsed.too_big:
                    response = ControlResponse.error(413, f"body larger than {MAX_BODY} bytes")
                else:
                    response = await _call(handler, parsed.request())
                writer.write(_encode(response, keep_alive))
                await writer.drain()
                if not keep_alive:
                    break
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    return serve


async def _call(handler: Handler, request: ControlRequest) -> ControlResponse:
    try:
        return await handler(request)
    except Exception as exc:  # a bug in a handler must not take the router down
        return ControlResponse.error(500, f"internal error: {type(exc).__name__}: {exc}")
