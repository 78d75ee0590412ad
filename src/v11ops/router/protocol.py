"""HTTP/1.1 wire details shared by the client and upstream sides of the proxy.

Parsing itself is left to httptools (llhttp, the parser of Node.js and uvicorn): request
smuggling and framing edge cases (duplicate Content-Length, obs-fold, chunk extensions, bare LF)
are where hand-written parsers break, and llhttp is fuzzed and maintained for exactly that. It is
also C, which matters on a data path that parses every request and every response.
"""

from __future__ import annotations

import json
from http import HTTPStatus

# Headers that describe one connection, not the message (RFC 9110 section 7.6.1); never forwarded.
# Content-Length is not hop-by-hop but the proxy rewrites framing itself, so it is handled apart.
HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-connection",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
    }
)

IDEMPOTENT_METHODS = frozenset({b"GET", b"HEAD", b"PUT", b"DELETE", b"OPTIONS", b"TRACE"})

CRLF = b"\r\n"
LAST_CHUNK = b"0\r\n\r\n"
CONTINUE_100 = b"HTTP/1.1 100 Continue\r\n\r\n"

_STATUS_LINES = {s.value: f"HTTP/1.1 {s.value} {s.phrase}\r\n".encode() for s in HTTPStatus}


class HeadRefused(Exception):
    """Raised in a parser callback to stop parsing a request head that breaks a limit."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def status_line(code: int) -> bytes:
    """`HTTP/1.1 <code> <reason>\\r\\n`, with the standard reason phrase."""
    line = _STATUS_LINES.get(code)
    if line is None:
        line = f"HTTP/1.1 {code} Status {code}\r\n".encode()
    return line


def chunk(data: bytes) -> bytes:
    """`data` framed as one HTTP/1.1 chunk."""
    return b"%x\r\n%b\r\n" % (len(data), data)


def connection_tokens(value: bytes) -> set[bytes]:
    """Header names listed in a Connection header value (also hop-by-hop)."""
    return {t.strip().lower() for t in value.split(b",") if t.strip()}


def error_response(code: int, message: str, *, keep_alive: bool, request_id: bytes) -> bytes:
    """A complete small JSON response the router sends on its own behalf (502, 503, 504...)."""
    body = json.dumps({"error": message, "status": code}).encode() + b"\n"
    head = [
        status_line(code),
        b"content-type: application/json\r\n",
        b"content-length: %d\r\n" % len(body),
        b"x-request-id: %b\r\n" % request_id,
        b"cache-control: no-store\r\n",
    ]
    if code == 503:
        head.append(b"retry-after: 1\r\n")
    if not keep_alive:
        head.append(b"connection: close\r\n")
    head.append(CRLF)
    return b"".join(head) + body
