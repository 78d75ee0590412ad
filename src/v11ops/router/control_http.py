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

MAX_BODY = 1024 * 1024
READ_TIMEOUT_S = 30.0


@dataclass(slots=True)
class ControlRequest:
    """A parsed control request."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes = b""

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
        self.done = False
        self.too_big = False

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers[name.decode("latin-1").lower()] = value.decode("latin-1")

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
        )


async def _read_request(reader: asyncio.StreamReader) -> _Reader | None:
    parsed = _Reader()
    while not parsed.done:
        data = await reader.read(65536)
        if not data:
            return None
        parsed.parser.feed_data(data)
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
                except (TimeoutError, httptools.HttpParserError):
                    break
                if parsed is None:
                    break
                keep_alive = parsed.parser.should_keep_alive()
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
