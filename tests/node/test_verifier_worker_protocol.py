"""The verifier worker's framing, served in a thread over a socket pair (no process)."""

from __future__ import annotations

import socket
import struct
import threading
from collections.abc import Iterator

import pytest

from v11node.ledger.accounts import dev_address, dev_signing_key
from v11node.ledger.transaction import make_transaction
from v11node.verifier import Item, encode_request, worker_main


@pytest.fixture
def worker() -> Iterator[tuple[socket.socket, threading.Thread]]:
    """The node's end of a socket pair whose other end a worker serves."""
    node_end, worker_end = socket.socketpair()
    node_end.settimeout(10)
    thread = threading.Thread(target=worker_main, args=(worker_end.detach(),), daemon=True)
    thread.start()
    yield node_end, thread
    node_end.close()
    thread.join(10)


def _items() -> list[Item]:
    txs = [make_transaction(dev_signing_key(i), dev_address(9), 1, 1) for i in range(3)]
    items = [(t.sender, t.signing_bytes(), t.signature) for t in txs]
    items[1] = (items[1][0], items[1][1] + b"!", items[1][2])  # no longer what was signed
    return items


def _answer(sock: socket.socket) -> bytes:
    head = sock.recv(4, socket.MSG_WAITALL)
    (length,) = struct.unpack(">I", head)
    return sock.recv(length, socket.MSG_WAITALL)


def test_a_worker_answers_each_frame_with_one_byte_per_signature(
    worker: tuple[socket.socket, threading.Thread],
) -> None:
    sock, _ = worker
    for _ in range(2):  # the same connection serves frame after frame
        sock.sendall(encode_request(_items()))
        assert _answer(sock) == b"\x01\x00\x01"
    sock.sendall(encode_request([]))
    assert _answer(sock) == b""


def test_a_worker_stops_when_the_node_closes_mid_frame(
    worker: tuple[socket.socket, threading.Thread],
) -> None:
    sock, thread = worker
    frame = encode_request(_items())
    sock.sendall(frame[: len(frame) // 2])
    sock.shutdown(socket.SHUT_WR)
    thread.join(10)
    assert not thread.is_alive(), "the worker returned instead of waiting for the rest"
    assert sock.recv(1) == b"", "and it sent nothing for the partial frame"


def test_a_worker_stops_when_the_node_closes_between_frames(
    worker: tuple[socket.socket, threading.Thread],
) -> None:
    sock, thread = worker
    sock.sendall(b"\x00\x00")  # half a length prefix
    sock.shutdown(socket.SHUT_WR)
    thread.join(10)
    assert not thread.is_alive()
