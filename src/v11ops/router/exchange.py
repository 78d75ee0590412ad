"""One exchange: a request routed to one target and its response streamed back.

A request body is kept in memory only up to `REPLAY_LIMIT` (so that an idempotent request can be
retried on another target after a failed connect); beyond that it is streamed through.
"""

from __future__ import annotations

import asyncio
import re
import time
from typing import TYPE_CHECKING

from v11ops.router.protocol import (
    CONTINUE_100,
    CRLF,
    HOP_BY_HOP,
    IDEMPOTENT_METHODS,
    LAST_CHUNK,
    chunk,
    connection_tokens,
    error_response,
    status_line,
)
from v11ops.router.routing import Routing
from v11ops.router.target import TargetState
from v11ops.router.upstream import UpstreamConnection

if TYPE_CHECKING:
    from v11ops.router.connection import ClientConnection

REPLAY_LIMIT = 64 * 1024  # request body bytes kept for a retry
PENDING_LIMIT = 256 * 1024  # body bytes buffered while connecting before reading pauses
CLIENT_CLOSED = 499  # as nginx logs it: the client went away before the response

# Why a client connection stops reading; independent bits, reading resumes when none is left.
PAUSE_PIPELINE = 1  # a second request arrived while the first is still answered
PAUSE_UPSTREAM = 2  # the upstream is not reading the request body fast enough
PAUSE_PENDING = 4  # too much body buffered while the upstream connection opens

# What a client says about forwarding is not evidence, and the node takes the first
# X-Forwarded-For hop as the client address (rate limits, the admin guard). So from a peer that
# is not a trusted proxy (`ProxySettings.trust_forwarded_from`) these are dropped, and the router
# writes X-Forwarded-For (the peer) and X-Forwarded-Proto (its listener's scheme) itself. From a
# trusted proxy (nginx in front, terminating TLS) they pass, the peer appended to its
# X-Forwarded-For and its X-Forwarded-Proto kept.
_CLIENT_FORWARDING = frozenset(
    {
        b"forwarded",
        b"x-forwarded-for",
        b"x-forwarded-host",
        b"x-forwarded-port",
        b"x-forwarded-proto",
        b"x-real-ip",
    }
)
_FORWARD_SKIP = _CLIENT_FORWARDING | {b"x-request-id", b"expect"}
# A client's request id is kept only if it is short and plainly printable (a UUID, a ULID,
# base64); anything else is replaced, so it can never split a header or a log line.
_REQUEST_ID = re.compile(rb"[A-Za-z0-9._~:/+=@-]{1,128}")
_NO_BODY_STATUS = frozenset({204, 304})
_PLAIN_CONNECTION = frozenset({b"close", b"keep-alive"})


class Exchange:
    """One request: choose a target, forward the request, stream the response back."""

    __slots__ = (
        "attempts",
        "body_size",
        "chunk_out",
        "client",
        "client_keep",
        "connecting",
        "declared_size",
        "expect_continue",
        "finished",
        "has_host",
        "head",
        "headers",
        "http11",
        "idempotent",
        "kept",
        "kept_size",
        "method",
        "moved",
        "pending",
        "pending_size",
        "req_chunked",
        "request_done",
        "request_id",
        "response_paused",
        "response_started",
        "status",
        "t0",
        "target",
        "upstream",
        "url",
    )

    def __init__(
        self,
        client: ClientConnection,
        method: bytes,
        url: bytes,
        headers: list[tuple[bytes, bytes]],
        http11: bool,
        keep_alive: bool,
    ) -> None:
        self.client = client
        self.method = method
        self.url = url
        self.headers = headers
        self.http11 = http11
        self.client_keep = keep_alive
        self.idempotent = method in IDEMPOTENT_METHODS
        self.t0 = 0.0
        self.target: TargetState | None = None
        self.upstream: UpstreamConnection | None = None
        self.connecting: asyncio.Task[None] | None = None
        self.head = b""
        self.has_host = True
        self.request_id = b""
        self.pending: list[bytes] = []
        self.pending_size = 0
        self.kept: list[bytes] | None = [] if self.idempotent else None
        self.kept_size = 0
        self.req_chunked = False
        self.declared_size = 0  # Content-Length
        self.body_size = 0
        self.expect_continue = False
        self.request_done = False
        self.response_started = False
        self.response_paused = False
        self.chunk_out = False
        self.finished = False
        self.status = 0
        self.attempts = 0
        self.moved = False  # already retried on another target

    # request side

    def start(self) -> None:
        """Route the request (called when it is first in line on its connection)."""
        self.t0 = time.perf_counter()
        routing = self.client.proxy.routing
        sticky = self._build_head(routing)
        limit = self.client.proxy.settings.max_body_bytes
        if self.declared_size > limit:
            self.client_keep = False  # the body is not read: the connection cannot go on
            self._respond_error(413, f"request body larger than {limit} bytes")
            return
        balancer = routing.balancer
        target = balancer.pick() if sticky is None else balancer.pick_sticky(sticky)
        if target is None:
            routing.unrouted += 1
            self._respond_error(503, "no target available for this request")
            return
        if self.expect_continue:
            self.client.write(CONTINUE_100)
        self._assign(target)

    def _build_head(self, routing: Routing) -> bytes | None:
        """Serialise the upstream request head; returns the sticky key if the table has one."""
        parts = [self.method, b" ", self.url, b" HTTP/1.1\r\n"]
        drop: set[bytes] | None = None
        sticky: bytes | None = None
        trusted = self.client.trusted
        xff = proto = b""
        sticky_header, sticky_cookie = routing.sticky_header, routing.sticky_cookie
        self.has_host = False
        for name, value in self.headers:
            lname = name.lower()
            if lname in HOP_BY_HOP:
                if lname == b"transfer-encoding":
                    self.req_chunked = True
                elif lname == b"connection" and value.lower() not in _PLAIN_CONNECTION:
                    drop = connection_tokens(value) - _PLAIN_CONNECTION or drop
                continue
            if lname in _FORWARD_SKIP:
                if lname == b"x-request-id":
                    if _REQUEST_ID.fullmatch(value):
                        self.request_id = value
                elif lname == b"expect":
                    self.expect_continue = value.lower() == b"100-continue"
                elif not trusted:
                    pass  # a client's claim: dropped
                elif lname == b"x-forwarded-for":
                    xff = value if not xff else xff + b", " + value
                elif lname == b"x-forwarded-proto":
                    proto = value
                else:
                    parts += (name, b": ", value, CRLF)
                continue
            if lname == b"host":
                self.has_host = True
            elif lname == b"content-length":
                # llhttp refused a malformed or repeated one, so these are plain digits.
                self.declared_size = int(value)
            elif lname == sticky_header:
                sticky = value
            elif sticky_cookie is not None and lname == b"cookie":
                sticky = _cookie(value, sticky_cookie) or sticky
            parts += (name, b": ", value, CRLF)
        if drop:
            parts = _drop_named(parts, drop, start=4)
        if not self.request_id:
            self.request_id = self.client.proxy.request_id()
        parts += (
            b"x-forwarded-for: ",
            xff + b", " + self.client.client_ip if xff else self.client.client_ip,
            b"\r\nx-forwarded-proto: ",
            proto or self.client.scheme,
            b"\r\nx-request-id: ",
            self.request_id,
            CRLF,
        )
        if self.req_chunked:
            parts.append(b"transfer-encoding: chunked\r\n")
        parts.append(CRLF)
        self.head = b"".join(parts)
        return sticky

    def _assign(self, target: TargetState) -> None:
        self.target = target
        self.attempts += 1
        target.begin()
        conn = target.pool.acquire()
        if conn is not None:
            self._send(conn)
        else:
            self.connecting = asyncio.get_running_loop().create_task(self._connect(target))

    async def _connect(self, target: TargetState) -> None:
        try:
            conn = await target.pool.connect()
        except TimeoutError:
            self.connecting = None
            self._connect_failed(target, "timeout")
            return
        except Exception:  # refused, unreachable, DNS...: never leave the client waiting
            self.connecting = None
            self._connect_failed(target, "connect")
            return
        self.connecting = None
        if self.finished or target is not self.target:
            target.pool.release(conn)  # the client left meanwhile; the socket is still useful
            return
        self._send(conn)

    def _connect_failed(self, target: TargetState, kind: str) -> None:
        target.error(kind)
        target.eject(self.client.proxy.settings.eject_s)
        if self.finished or self._retry(target, elsewhere=True):
            return
        code = 504 if kind == "timeout" else 502
        self._respond_error(code, f"upstream {target.label} ({target.slot}) {kind} failed")

    def _retry(self, target: TargetState, *, elsewhere: bool) -> bool:
        """Send an idempotent request again before any response byte; True if re-sent.

        At most once on another (not draining) target, plus on a fresh connection to the same
        target when a pooled one turned out to be closed.
        """
        if self.kept is None or self.attempts >= 3:
            return False
        routing = self.client.proxy.routing
        if elsewhere:
            other = None if self.moved else routing.balancer.pick(exclude=target)
            if other is None:
                return False
            self.moved = True
        else:
            other = target
        target.abandon()
        routing.retries += 1
        self.pending = list(self.kept)
        self._assign(other)
        return True

    def _send(self, conn: UpstreamConnection) -> None:
        self.upstream = conn
        data = self.head
        if not self.has_host:  # an HTTP/1.0 client may omit Host; HTTP/1.1 upstreams need one
            assert self.target is not None
            data = b"%bhost: %b\r\n\r\n" % (data[:-2], self.target.label.encode())
        if self.pending:
            data += b"".join(self.pending)
            self.pending = []
            self.pending_size = 0
            self.client.resume(PAUSE_PENDING)
        if self.request_done and self.req_chunked:
            data += LAST_CHUNK
        conn.send(self, data, head_only=self.method == b"HEAD")

    def on_request_body(self, data: bytes) -> None:
        """A piece of the request body arrived from the client."""
        if self.finished or not data:
            return
        self.body_size += len(data)
        if self.body_size > self.client.proxy.settings.max_body_bytes:
            self._refuse_body()
            return
        if self.req_chunked:
            data = chunk(data)
        kept = self.kept
        if kept is not None:
            self.kept_size += len(data)
            if self.kept_size <= REPLAY_LIMIT:
                kept.append(data)
            else:
                self.kept = None  # too big to replay; this request will not be retried
        upstream = self.upstream
        if upstream is not None:
            upstream.write(data)
        else:
            self.pending.append(data)
            self.pending_size += len(data)
            if self.pending_size > PENDING_LIMIT:
                self.client.pause(PAUSE_PENDING)

    def on_request_complete(self) -> None:
        """The whole request has arrived from the client."""
        self.request_done = True
        if self.req_chunked and self.upstream is not None and not self.finished:
            self.upstream.write(LAST_CHUNK)

    def pause_request_body(self) -> None:
        """The upstream socket buffer is full: stop reading the client."""
        self.client.pause(PAUSE_UPSTREAM)

    def resume_request_body(self) -> None:
        """The upstream socket drained: read the client again."""
        self.client.resume(PAUSE_UPSTREAM)

    # response side

    def on_response_head(self, status: int, headers: list[tuple[bytes, bytes]]) -> bool:
        """The upstream's status line and headers: forward them minus hop-by-hop headers.

        Returns True when the response body runs until the upstream closes (no framing).
        """
        self.status = status
        self.response_started = True
        parts = [status_line(status)]
        drop: set[bytes] | None = None
        chunked = has_length = has_request_id = False
        for name, value in headers:
            lname = name.lower()
            if lname in HOP_BY_HOP:
                if lname == b"transfer-encoding":
                    chunked = True
                elif lname == b"connection" and value.lower() not in _PLAIN_CONNECTION:
                    drop = connection_tokens(value) - _PLAIN_CONNECTION or drop
                continue
            if lname == b"content-length":
                has_length = True
            elif lname == b"x-request-id":
                has_request_id = True
            parts += (name, b": ", value, CRLF)
        if drop:
            parts = _drop_named(parts, drop, start=1)
        if not has_request_id:
            parts += (b"x-request-id: ", self.request_id, CRLF)
        body_expected = self.method != b"HEAD" and status not in _NO_BODY_STATUS
        if body_expected and not has_length:
            if self.http11:
                self.chunk_out = True
                parts.append(b"transfer-encoding: chunked\r\n")
            else:
                self.client_keep = False  # an HTTP/1.0 client reads to EOF
        if self.client.proxy.closing:
            self.client_keep = False
        if not self.client_keep:
            parts.append(b"connection: close\r\n")
        elif not self.http11:
            parts.append(b"connection: keep-alive\r\n")
        parts.append(CRLF)
        self.client.write(b"".join(parts))
        return body_expected and not has_length and not chunked

    def on_response_body(self, data: bytes) -> None:
        """A piece of the response body: pass it on, re-chunked when needed."""
        self.client.write(chunk(data) if self.chunk_out else data)

    def on_response_complete(self, keep_alive: bool) -> None:
        """The response ended; return the upstream connection to the pool if reusable."""
        if self.chunk_out:
            self.client.write(LAST_CHUNK)
        conn, self.upstream = self.upstream, None
        if conn is not None:
            if self.response_paused and conn.transport is not None:
                conn.transport.resume_reading()
            assert self.target is not None
            if keep_alive and self.request_done:
                self.target.pool.release(conn)
            else:
                conn.close()  # e.g. an early answer while the body was still arriving
        self._finish(self.status)

    def on_upstream_lost(self, exc: Exception | None) -> None:
        """The upstream connection closed or broke before the response completed."""
        conn, self.upstream = self.upstream, None
        if self.finished or self.target is None:
            return
        target = self.target
        target.error("reset")
        if self.response_started:
            # Mid-body there is no way to signal an error but cutting the client connection,
            # so the client sees a truncated response rather than a wrong one.
            self.client_keep = False
            self.client.abort()
            self._finish(self.status)
            return
        if conn is not None and not conn.received:
            if conn.served:
                # A pooled connection the upstream closed just as it was reused.
                if self._retry(target, elsewhere=False):
                    return
            else:
                # A fresh connection reset before any answer: the upstream is going away.
                target.eject(self.client.proxy.settings.eject_s)
                if self._retry(target, elsewhere=True):
                    return
        self._respond_error(502, f"upstream {target.label} ({target.slot}) closed the connection")

    def on_upstream_timeout(self) -> None:
        """The upstream was silent longer than the read timeout."""
        conn, self.upstream = self.upstream, None
        if conn is not None:
            conn.abort()
        if self.finished or self.target is None:
            return
        self.target.error("timeout")
        if self.response_started:
            self.client_keep = False
            self.client.abort()
            self._finish(self.status)
        else:
            self._respond_error(504, f"upstream {self.target.label} did not answer in time")

    def begin_batch(self) -> None:
        """An upstream read is about to be parsed: collect the client writes it causes."""
        self.client.begin_batch()

    def end_batch(self) -> None:
        """The upstream read is parsed: send the collected bytes to the client."""
        self.client.end_batch()

    def pause_response(self) -> None:
        """The client reads slower than the upstream sends: stop reading the upstream."""
        conn = self.upstream
        if conn is not None and conn.transport is not None and not self.response_paused:
            self.response_paused = True
            conn.transport.pause_reading()

    def resume_response(self) -> None:
        """The client caught up: read the upstream again."""
        conn = self.upstream
        if self.response_paused and conn is not None and conn.transport is not None:
            self.response_paused = False
            conn.transport.resume_reading()

    # endings

    def abort_by_client(self) -> None:
        """The client connection closed: drop the upstream side and count a 499."""
        if self.finished:
            return
        conn, self.upstream = self.upstream, None
        if conn is not None:
            conn.abort()
        if self.target is not None:
            self._finish(CLIENT_CLOSED)

    def _refuse_body(self) -> None:
        """A chunked body grew past the limit: 413 if no answer has started, else cut."""
        self.client_keep = False
        conn, self.upstream = self.upstream, None
        if conn is not None:
            conn.abort()  # the upstream must not take a truncated body for a whole one
        if self.client.current is not self or self.response_started:
            self.client.abort()
            if self.target is not None:
                self._finish(self.status or CLIENT_CLOSED)
            return
        limit = self.client.proxy.settings.max_body_bytes
        self._respond_error(413, f"request body larger than {limit} bytes")

    def _respond_error(self, code: int, message: str) -> None:
        self.status = code
        self.client.write(
            error_response(
                code, message, keep_alive=self.client_keep, request_id=self.request_id or b"-"
            )
        )
        self._finish(code)

    def _finish(self, code: int) -> None:
        self.finished = True
        if self.target is not None:
            self.target.end(code, time.perf_counter() - self.t0)
        self.kept = None
        self.pending = []
        self.client.exchange_done(self, self.client_keep)


def _cookie(header: bytes, name: bytes) -> bytes | None:
    for part in header.split(b";"):
        key, _, value = part.strip().partition(b"=")
        if key == name:
            return value
    return None


def _drop_named(parts: list[bytes], names: set[bytes], *, start: int) -> list[bytes]:
    """Remove headers named by Connection; headers are name/": "/value/CRLF from `start`."""
    out = parts[:start]
    for i in range(start, len(parts), 4):
        if parts[i].lower() not in names:
            out += parts[i : i + 4]
    return out
