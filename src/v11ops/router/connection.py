"""A client connection: requests parsed by httptools and answered in order.

Built on an asyncio Protocol rather than streams: callbacks from the C parser go straight to the
transports with no coroutine, task or timer per request, which keeps CPython's cost per request
to a few dozen plain calls. The route is chosen per request (in `Exchange.start`), not per
connection, so a switch also moves keep-alive clients.

The request head is bounded in time (`header_timeout_s`, counted by the proxy's clock) and in
size (`max_url_bytes`, `max_header_bytes`, `max_headers`): httptools buffers a header until it
is complete, so without these a client could hold a connection or memory for as long or as much
as it likes.
"""

from __future__ import annotations

import asyncio
import collections
from typing import TYPE_CHECKING, cast

import httptools

from v11ops.router.exchange import PAUSE_PENDING, PAUSE_PIPELINE, PAUSE_UPSTREAM, Exchange
from v11ops.router.protocol import HeadRefused, error_response

if TYPE_CHECKING:
    from v11ops.router.proxy import Proxy


class ClientConnection(asyncio.Protocol):
    """One client connection; requests are parsed by httptools and answered in order."""

    __slots__ = (
        "batching",
        "client_ip",
        "current",
        "head_begun",
        "head_bytes",
        "head_raw",
        "head_ticks",
        "headers",
        "heads",
        "idle_ticks",
        "in_head",
        "out",
        "parser",
        "paused",
        "proxy",
        "queue",
        "receiving",
        "scheme",
        "transport",
        "trusted",
        "upgraded",
        "url",
    )

    def __init__(self, proxy: Proxy) -> None:
        self.proxy = proxy
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpRequestParser(self)
        self.client_ip = b""
        self.scheme = b"http"
        self.trusted = False  # a proxy whose forwarding headers are believed
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
        self.in_head = True  # waiting for (the rest of) a request head: the header timeout runs
        self.head_begun = False  # some of that head has arrived
        self.head_ticks = 0
        self.heads = 0  # request heads begun on this connection
        self.head_bytes = 0  # header names and values of the current head, as parsed
        self.head_raw = 0  # bytes of reads that were all head (what httptools may buffer)

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self.transport = cast(asyncio.Transport, transport)
        peer = transport.get_extra_info("peername")
        self.client_ip = str(peer[0]).encode() if isinstance(peer, tuple) else b"unknown"
        self.trusted = isinstance(peer, tuple) and self.proxy.trusts(str(peer[0]))
        if transport.get_extra_info("ssl_object") is not None:
            self.scheme = b"https"
        self.proxy.clients.add(self)

    def data_received(self, data: bytes) -> None:
        self.idle_ticks = 0
        if self.upgraded:
            return
        was_in_head, heads = self.in_head, self.heads
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            # Upgrade is hop-by-hop, so the request went upstream as plain HTTP; what follows
            # it is not HTTP, so this connection ends after the response.
            self.upgraded = True
        except httptools.HttpParserCallbackError as exc:
            refused = exc.__context__
            if isinstance(refused, HeadRefused):
                self.refuse(refused.status, str(refused))
            else:
                self._bad_request(str(exc))
        except httptools.HttpParserError as exc:
            self._bad_request(str(exc))
        else:
            if was_in_head and self.in_head and heads == self.heads:
                self._count_raw_head(len(data))

    def _count_raw_head(self, size: int) -> None:
        # httptools keeps a partial header to itself until it ends, so a huge header sent in
        # many reads is only visible here, by the size of the reads that were all head.
        self.head_raw += size
        settings = self.proxy.settings
        if self.head_raw > settings.max_url_bytes + settings.max_header_bytes:
            self.refuse(431, "request head too large")

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

    def on_message_begin(self) -> None:
        if not self.in_head:  # a fresh connection's timer runs from the connect
            self.in_head = True
            self.head_ticks = 0
        self.head_begun = True
        self.heads += 1
        self.head_bytes = self.head_raw = 0

    def on_url(self, url: bytes) -> None:
        self.url += url
        limit = self.proxy.settings.max_url_bytes
        if len(self.url) > limit:
            raise HeadRefused(414, f"request target longer than {limit} bytes")

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))
        self.head_bytes += len(name) + len(value)
        settings = self.proxy.settings
        if len(self.headers) > settings.max_headers:
            raise HeadRefused(431, f"more than {settings.max_headers} header lines")
        if self.head_bytes > settings.max_header_bytes:
            raise HeadRefused(431, f"headers larger than {settings.max_header_bytes} bytes")

    def on_headers_complete(self) -> None:
        self.in_head = self.head_begun = False
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

    def head_timed_out(self) -> None:
        """The header timeout passed: 408 if part of a head came, else just close."""
        if self.head_begun:
            self.refuse(408, "request head not received in time")
        else:
            self.close()

    def refuse(self, status: int, message: str) -> None:
        """Answer `status` and close; cut the connection if a response is under way."""
        self.in_head = False
        if self.current is None:
            self.write(error_response(status, message, keep_alive=False, request_id=b"-"))
            self.close()
        else:
            self.abort()

    def _bad_request(self, reason: str) -> None:
        self.refuse(400, f"malformed request: {reason}")
