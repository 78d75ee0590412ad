"""A client connection: requests parsed by httptools and answered in order.

Built on an asyncio Protocol rather than streams: callbacks from the C parser go straight to the
transports with no coroutine, task or timer per request, which keeps CPython's cost per request
to a few dozen plain calls. The route is chosen per request (in `Exchange.start`), not per
connection, so a switch also moves keep-alive clients.
"""

from __future__ import annotations

import asyncio
import collections
from typing import TYPE_CHECKING, cast

import httptools

from v11ops.router.exchange import PAUSE_PENDING, PAUSE_PIPELINE, PAUSE_UPSTREAM, Exchange
from v11ops.router.protocol import error_response

if TYPE_CHECKING:
    from v11ops.router.proxy import Proxy


class ClientConnection(asyncio.Protocol):
    """One client connection; requests are parsed by httptools and answered in order."""

    __slots__ = (
        "batching",
        "client_ip",
        "current",
        "headers",
        "idle_ticks",
        "out",
        "parser",
        "paused",
        "proxy",
        "queue",
        "receiving",
        "transport",
        "upgraded",
        "url",
    )

    def __init__(self, proxy: Proxy) -> None:
        self.proxy = proxy
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpRequestParser(self)
        self.client_ip = b""
        self.url = b""
        self.headers: list[tuple[bytes, bytes]] = []
        self.current: Exchange | None = None  # the exchange being answered
        self.receiving: Exchange | None = None  # the exchange whose body is arriving
        self.queue: collections.deque[Exchange] = collections.deque()
        self.paused = 0
        self.idle_ticks = 0
        self.upgraded = False
        self.batching = False
        self.out: list[bytes] = []

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self.transport = cast(asyncio.Transport, transport)
        peer = transport.get_extra_info("peername")
        self.client_ip = str(peer[0]).encode() if isinstance(peer, tuple) else b"unknown"
        self.proxy.clients.add(self)

    def data_received(self, data: bytes) -> None:
        self.idle_ticks = 0
        if self.upgraded:
            return
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            # Upgrade is hop-by-hop, so the request went upstream as plain HTTP; what follows
            # it is not HTTP, so this connection ends after the response.
            self.upgraded = True
        except httptools.HttpParserError as exc:
            self._bad_request(str(exc))

    def connection_lost(self, exc: Exception | None) -> None:
        self.proxy.forget(self)
        current, self.current = self.current, None
        self.queue.clear()
        if current is not None:
            current.abort_by_client()

    def pause_writing(self) -> None:
        if self.current is not None:
            self.current.pause_response()

    def resume_writing(self) -> None:
        if self.current is not None:
            self.current.resume_response()

    # httptools callbacks

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        parser = self.parser
        exchange = Exchange(
            self,
            parser.get_method(),
            self.url,
            self.headers,
            parser.get_http_version() == "1.1",
            parser.should_keep_alive() and not parser.should_upgrade(),
        )
        self.url = b""
        self.headers = []
        self.receiving = exchange
        if self.current is None:
            self.current = exchange
            exchange.start()
        else:
            self.queue.append(exchange)
            self.pause(PAUSE_PIPELINE)

    def on_body(self, body: bytes) -> None:
        if self.receiving is not None:
            self.receiving.on_request_body(body)

    def on_message_complete(self) -> None:
        if self.receiving is not None:
            self.receiving.on_request_complete()

    # used by Exchange

    def write(self, data: bytes) -> None:
        """Write response bytes to the client (collected while a batch is open)."""
        if self.batching:
            self.out.append(data)
        elif self.transport is not None:
            self.transport.write(data)

    def begin_batch(self) -> None:
        """Collect writes until `end_batch`.

        On loopback each send() also runs the receiver's TCP input path, so it is the most
        expensive call per request; one upstream read usually holds the whole response (head
        and body), and batching sends it with one syscall instead of two or three.
        """
        self.batching = True

    def end_batch(self) -> None:
        """Send what was collected since `begin_batch` in one write."""
        self.batching = False
        out = self.out
        if out:
            self.out = []
            transport = self.transport
            if transport is not None and not transport.is_closing():
                transport.write(out[0] if len(out) == 1 else b"".join(out))

    def exchange_done(self, exchange: Exchange, keep_alive: bool) -> None:
        """The response to `exchange` is complete: start the next pipelined one or close."""
        if exchange is not self.current:
            return
        self.current = None
        self.idle_ticks = 0
        self.resume(PAUSE_UPSTREAM | PAUSE_PENDING)
        if not keep_alive or self.upgraded:
            self.close()
        elif self.queue:
            nxt = self.current = self.queue.popleft()
            if not self.queue:
                self.resume(PAUSE_PIPELINE)
            nxt.start()
        elif self.proxy.closing:
            self.close()

    def pause(self, reason: int) -> None:
        """Stop reading from the client for `reason` (reasons are independent bits)."""
        if not self.paused and self.transport is not None:
            self.transport.pause_reading()
        self.paused |= reason

    def resume(self, reasons: int) -> None:
        """Clear `reasons`; resume reading once no reason is left."""
        if self.paused & reasons:
            self.paused &= ~reasons
            if not self.paused and self.transport is not None and not self.transport.is_closing():
                self.transport.resume_reading()

    def close(self) -> None:
        """Close after what was written is flushed."""
        self.end_batch()
        if self.transport is not None:
            self.transport.close()

    def abort(self) -> None:
        """Close at once."""
        self.out = []
        if self.transport is not None:
            self.transport.abort()

    def _bad_request(self, reason: str) -> None:
        if self.current is None:
            body = error_response(
                400, f"malformed request: {reason}", keep_alive=False, request_id=b"-"
            )
            self.write(body)
            self.close()
        else:
            self.abort()
