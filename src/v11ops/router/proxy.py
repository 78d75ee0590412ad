"""The proxy: protocol factory of the public listener, the timeout clock, graceful shutdown."""

from __future__ import annotations

import asyncio
import ipaddress
import itertools
import math
import os
from dataclasses import dataclass

from v11ops.router.connection import ClientConnection
from v11ops.router.exchange import Exchange
from v11ops.router.routing import Routing


@dataclass(frozen=True, slots=True)
class ProxySettings:
    """Timeouts and size limits of the data path.

    Every wait is bounded, so no client is left hanging, and every buffer is bounded, so no
    client can make the router hold an unbounded amount of memory.
    """

    read_timeout_s: float = 60.0  # silence from an upstream mid-exchange before 504/abort
    keepalive_timeout_s: float = 75.0  # idle client keep-alive connections are closed after
    # From a connection's opening (or a request's first byte) to its last header, however
    # steadily it trickles in: what stops slowloris, whose bytes would reset an idle timer.
    header_timeout_s: float = 10.0
    max_url_bytes: int = 8 * 1024  # request target; longer: 414
    max_header_bytes: int = 32 * 1024  # all header names and values together; more: 431
    max_headers: int = 100  # header lines; more: 431
    # Bodies are streamed (memory stays bounded whatever this is); the cap spares upstreams.
    # Above the node's own 4 MiB, so the node answers its limit precisely. More: 413.
    max_body_bytes: int = 16 * 1024 * 1024
    # Peers whose X-Forwarded-* / Forwarded / X-Real-IP headers are believed (see exchange.py):
    # loopback, where nginx runs in front of the router in deploy/; () makes the router the edge.
    trust_forwarded_from: tuple[str, ...] = ("127.0.0.0/8", "::1/128")
    pool_idle_timeout_s: float = 2.0  # below the usual upstream keep-alive (uvicorn: 5 s)
    eject_s: float = 5.0  # a target whose connect failed is skipped this long
    tick_s: float = 0.25  # resolution of all the timeouts above

    def ticks(self, seconds: float) -> int:
        """`seconds` in clock ticks (at least one)."""
        return max(1, math.ceil(seconds / self.tick_s))


class Proxy:
    """Protocol factory for the public listener, plus the clock that enforces timeouts."""

    def __init__(self, routing: Routing, settings: ProxySettings | None = None) -> None:
        self.routing = routing
        self.settings = settings or ProxySettings()
        self.clients: set[ClientConnection] = set()
        self.closing = False
        self._ids = itertools.count(1)
        self._id_prefix = os.urandom(4).hex().encode()
        self._clock: asyncio.TimerHandle | None = None
        self._all_closed: asyncio.Event | None = None
        self._read_ticks = self.settings.ticks(self.settings.read_timeout_s)
        self._keepalive_ticks = self.settings.ticks(self.settings.keepalive_timeout_s)
        self._head_ticks = self.settings.ticks(self.settings.header_timeout_s)
        self._trusted = tuple(ipaddress.ip_network(n) for n in self.settings.trust_forwarded_from)
        self._pool_ticks = self.settings.ticks(self.settings.pool_idle_timeout_s)

    def __call__(self) -> ClientConnection:
        return ClientConnection(self)

    def trusts(self, peer: str) -> bool:
        """Whether `peer` is a proxy whose forwarding headers are believed."""
        if not self._trusted:
            return False
        try:
            address = ipaddress.ip_address(peer)
        except ValueError:  # not an IP peer (a unix socket)
            return False
        return any(address in network for network in self._trusted)

    def request_id(self) -> bytes:
        """A new request id, unique per router process (random prefix + counter)."""
        return b"%b-%x" % (self._id_prefix, next(self._ids))

    def start_clock(self) -> None:
        """Start the periodic sweep for timeouts (one timer for all connections)."""
        loop = asyncio.get_running_loop()
        self._clock = loop.call_later(self.settings.tick_s, self._tick)

    def stop_clock(self) -> None:
        """Stop the sweep."""
        if self._clock is not None:
            self._clock.cancel()

    def _tick(self) -> None:
        # Counting ticks instead of arming a timer per request keeps the hot path free of
        # timer-heap work; data_received only resets a counter.
        for conn in list(self.routing.registry.connections):
            conn.idle_ticks += 1
            sink = conn.sink
            if isinstance(sink, Exchange):
                if conn.idle_ticks > self._read_ticks:
                    sink.on_upstream_timeout()
            elif conn.idle_ticks > self._pool_ticks:
                conn.close()
        for client in list(self.clients):
            if client.current is not None:
                continue  # bounded by the upstream read timeout instead
            client.idle_ticks += 1
            if self.closing or client.idle_ticks > self._keepalive_ticks:
                client.close()
            elif client.in_head:
                client.head_ticks += 1  # not reset by data, unlike idle_ticks
                if client.head_ticks > self._head_ticks:
                    client.head_timed_out()
        self._clock = asyncio.get_running_loop().call_later(self.settings.tick_s, self._tick)

    def begin_shutdown(self) -> None:
        """Answer what is in flight with `Connection: close` and close idle connections."""
        self.closing = True
        for client in list(self.clients):
            if client.current is None:
                client.close()

    async def wait_closed(self, timeout_s: float) -> bool:
        """Wait until every client connection has finished; False on timeout."""
        if not self.clients:
            return True
        self._all_closed = asyncio.Event()
        try:
            async with asyncio.timeout(timeout_s):
                await self._all_closed.wait()
        except TimeoutError:
            return False
        return True

    def forget(self, client: ClientConnection) -> None:
        """A client connection closed."""
        self.clients.discard(client)
        if not self.clients and self._all_closed is not None:
            self._all_closed.set()

    def abort_all(self) -> None:
        """Last resort at shutdown: cut every remaining connection."""
        for client in list(self.clients):
            client.abort()
