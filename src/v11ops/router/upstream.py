"""Connections to upstream targets: one keep-alive HTTP/1.1 connection, and a pool per target.

A connection carries one request at a time (no upstream pipelining). After a complete response
with keep-alive it goes back to its target's pool; the most recently used connection is reused
first because it is the least likely to have been closed by the upstream's idle timeout.
"""

from __future__ import annotations

import asyncio
from typing import Protocol, cast

import httptools

# Interim responses (100 Continue, 103 Early Hints) are swallowed: the router answers
# `Expect: 100-continue` itself and early hints are optional by definition.
_INTERIM = range(100, 200)


class ResponseSink(Protocol):
    """The exchange that an upstream connection is currently answering."""

    def on_response_head(self, status: int, headers: list[tuple[bytes, bytes]]) -> bool:
        """Forward the head; True if the body is delimited by the upstream closing."""
        ...

    def on_response_body(self, data: bytes) -> None: ...

    def begin_batch(self) -> None: ...

    def end_batch(self) -> None: ...

    def on_response_complete(self, keep_alive: bool) -> None: ...

    def on_upstream_lost(self, exc: Exception | None) -> None: ...

    def pause_request_body(self) -> None: ...

    def resume_request_body(self) -> None: ...


class UpstreamConnection(asyncio.Protocol):
    """One TCP connection to a target, parsing responses with httptools."""

    __slots__ = (
        "_interim",
        "_until_close",
        "head_only",
        "headers",
        "idle_ticks",
        "parser",
        "pool",
        "received",
        "served",
        "sink",
        "transport",
    )

    def __init__(self, pool: UpstreamPool) -> None:
        self.pool = pool
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.sink: ResponseSink | None = None
        self.headers: list[tuple[bytes, bytes]] = []
        self.head_only = False
        self.received = False  # any byte of the current response seen
        self.served = 0  # responses completed on this connection
        self.idle_ticks = 0
        self._interim = False
        self._until_close = False

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self.transport = cast(asyncio.Transport, transport)
        self.pool.registry.add(self)

    def data_received(self, data: bytes) -> None:
        self.idle_ticks = 0
        self.received = True
        sink = self.sink
        if sink is None:
            # Bytes without a request in flight: the upstream is broken; never reuse it.
            self.close()
            return
        sink.begin_batch()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(exc)
        finally:
            sink.end_batch()

    def connection_lost(self, exc: Exception | None) -> None:
        self.pool.forget(self)
        sink, self.sink = self.sink, None
        if sink is None:
            return
        if self._until_close:
            sink.on_response_complete(False)  # EOF is how a close-delimited body ends
        else:
            sink.on_upstream_lost(exc)

    def pause_writing(self) -> None:
        if self.sink is not None:
            self.sink.pause_request_body()

    def resume_writing(self) -> None:
        if self.sink is not None:
            self.sink.resume_request_body()

    # httptools callbacks

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        status = self.parser.get_status_code()
        if status in _INTERIM and status != 101:
            self._interim = True
            self.headers = []
            return
        assert self.sink is not None
        self._until_close = self.sink.on_response_head(status, self.headers)
        if self.head_only and self.sink is not None:
            # llhttp cannot be told that a response answers HEAD, so it would wait for a body of
            # Content-Length bytes. End the message here and do not reuse the connection: its
            # parser is out of step with the stream.
            self._complete(keep_alive=False)

    def on_body(self, body: bytes) -> None:
        if self.sink is not None:
            self.sink.on_response_body(body)

    def on_message_complete(self) -> None:
        if self._interim:
            self._interim = False
            return
        if self.sink is not None:
            self._complete(self.parser.should_keep_alive())

    # used by the proxy

    def send(self, sink: ResponseSink, data: bytes, *, head_only: bool) -> None:
        """Start an exchange: write the request head (and any buffered body)."""
        self.sink = sink
        self.headers = []
        self.head_only = head_only
        self.received = False
        self.idle_ticks = 0
        assert self.transport is not None
        self.transport.write(data)

    def write(self, data: bytes) -> None:
        """Write more of the request body."""
        assert self.transport is not None
        self.transport.write(data)

    def close(self) -> None:
        """Close without telling anyone: the caller has already finished its exchange."""
        self.sink = None
        if self.transport is not None:
            self.transport.close()

    def abort(self) -> None:
        """Drop the connection at once (client went away mid-exchange)."""
        self.sink = None
        if self.transport is not None:
            self.transport.abort()

    def _complete(self, keep_alive: bool) -> None:
        sink, self.sink = self.sink, None
        self.served += 1
        self._until_close = False
        assert sink is not None
        sink.on_response_complete(keep_alive)

    def _fail(self, exc: Exception) -> None:
        sink, self.sink = self.sink, None
        if self.transport is not None:
            self.transport.abort()
        if sink is not None:
            sink.on_upstream_lost(exc)


class UpstreamRegistry:
    """Every live upstream connection, so the router's clock can enforce timeouts."""

    __slots__ = ("connections",)

    def __init__(self) -> None:
        self.connections: set[UpstreamConnection] = set()

    def add(self, conn: UpstreamConnection) -> None:
        """Track a new connection."""
        self.connections.add(conn)

    def discard(self, conn: UpstreamConnection) -> None:
        """Stop tracking a closed connection."""
        self.connections.discard(conn)


class UpstreamPool:
    """Idle keep-alive connections to one target."""

    __slots__ = ("closed", "connect_timeout", "host", "idle", "max_idle", "port", "registry")

    def __init__(
        self,
        host: str,
        port: int,
        registry: UpstreamRegistry,
        *,
        connect_timeout: float = 5.0,
        max_idle: int = 512,
    ) -> None:
        self.host = host
        self.port = port
        self.registry = registry
        self.connect_timeout = connect_timeout
        self.max_idle = max_idle
        self.idle: list[UpstreamConnection] = []
        self.closed = False

    def acquire(self) -> UpstreamConnection | None:
        """An idle connection that still looks open, or None."""
        idle = self.idle
        while idle:
            conn = idle.pop()
            transport = conn.transport
            if transport is not None and not transport.is_closing():
                return conn
        return None

    def release(self, conn: UpstreamConnection) -> None:
        """Give a connection back after a complete keep-alive response."""
        transport = conn.transport
        if self.closed or len(self.idle) >= self.max_idle or transport is None:
            conn.close()
        elif transport.is_closing():
            return
        else:
            conn.idle_ticks = 0
            self.idle.append(conn)

    def forget(self, conn: UpstreamConnection) -> None:
        """A connection closed: drop it from the idle list and the registry."""
        self.registry.discard(conn)
        if conn in self.idle:
            self.idle.remove(conn)

    def close_idle(self) -> None:
        """Close all idle connections (the target was drained or removed)."""
        idle, self.idle = self.idle, []
        for conn in idle:
            conn.close()

    def close(self) -> None:
        """Close idle connections and stop pooling new ones."""
        self.closed = True
        self.close_idle()

    async def connect(self) -> UpstreamConnection:
        """Open a new connection; raises OSError or TimeoutError on failure."""
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(self.connect_timeout):
            _, proto = await loop.create_connection(
                lambda: UpstreamConnection(self), self.host, self.port
            )
        return proto
