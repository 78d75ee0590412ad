"""Raw-socket helper for the attack tests: push a request head that never ends."""

from __future__ import annotations

import socket
import time

ENDLESS = 1024 * 1024  # far past every head limit: a server must cut the client before this


def push_until_cut(port: int, head: bytes, piece: int = 4096) -> tuple[int, bytes]:
    """Send `head`, then header bytes without end; (bytes pushed, what came back).

    Stops when the server cuts the connection or after `ENDLESS` bytes. The answer may be empty:
    bytes still unread when the server closes can turn its close into a reset.
    """
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(head)
        sent = 0
        try:
            while sent < ENDLESS:
                sock.sendall(b"v" * piece)
                sent += piece
                time.sleep(0.001)
        except (BrokenPipeError, ConnectionResetError):
            pass
        try:
            answer = b""
            while chunk := sock.recv(65536):
                answer += chunk
        except ConnectionResetError:
            answer = b""
    return sent, answer
