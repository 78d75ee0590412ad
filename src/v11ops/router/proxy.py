"""The proxy: protocol factory of the public listener, the timeout clock, graceful shutdown."""

from __future__ import annotations

import asyncio
import itertools
import math
import os
from dataclasses import dataclass

from v11ops.router.connection import ClientConnection
from v11ops.router.exchange import Exchange
from v11ops.router.routing import Routing


@dataclass(frozen=True, slots=True)
class ProxySettings:
    """Timeouts of the data path. Every wait is bounded, so no client is left hanging."""

    read_timeout_s: float = 60.0  # silence from an upstream mid-exchange before 504/abort
    keepalive_timeout_s: float = 75.0  # idle client keep-alive connections are closed after
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
        self._pool_ticks = self.settings.ticks(self.settings.pool_idle_timeout_s)

    def __call__(self) -> ClientConnection:
        return ClientConnection(self)

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
            if client.current is None:
                client.idle_ticks += 1
                if self.closing or client.idle_ticks > self._keepalive_ticks:
                    client.close()
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
