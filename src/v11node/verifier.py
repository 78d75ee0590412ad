"""Signature verification in worker processes, off the node's GIL.

Threads verify in parallel only while libsodium runs: every call gives the GIL back and has to
take it again from the event loop thread, which holds it most of the time under load; the
verifier threads then spend more time waiting for the GIL than verifying. Worker processes have
their own interpreter each. The node sends a chunk of (public key, message, signature) triples as
one frame over a socket pair and gets one byte per signature back; framing costs a few
microseconds a chunk, against about 40 microseconds of libsodium per signature.

Frames: a 4-byte big-endian length, then the body.
  request body:  count (4 bytes), then per item: public key (32), signature (64),
                 message length (4), message
  response body: count bytes, 1 where the signature verifies, 0 where it does not

A worker exits when its socket closes, so it never outlives the node (even after SIGKILL). If a
worker fails, the node verifies in its own threads instead: a request never fails because of it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import struct
import subprocess
import sys
from collections import deque
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import structlog

from v11node.crypto import verify_detached

log = structlog.get_logger("v11node.verifier")

_LEN = struct.Struct(">I")
_ITEM = struct.Struct(">32s64sI")

Item = tuple[bytes, bytes, bytes]  # public key, message, signature


def encode_request(items: Sequence[Item]) -> bytes:
    parts = [b"", _LEN.pack(len(items))]
    pack = _ITEM.pack
    for pk, msg, sig in items:
        parts.append(pack(pk, sig, len(msg)))
        parts.append(msg)
    body = b"".join(parts)
    return _LEN.pack(len(body)) + body


def verify_request(body: bytes) -> bytes:
    """Verify one request body; return the response body."""
    (count,) = _LEN.unpack_from(body, 0)
    out = bytearray(count)
    pos = 4
    unpack = _ITEM.unpack_from
    size = _ITEM.size
    verify = verify_detached
    for i in range(count):
        pk, sig, mlen = unpack(body, pos)
        pos += size
        msg = body[pos : pos + mlen]
        pos += mlen
        out[i] = verify(pk, msg, sig)
    return bytes(out)


def verify_items(items: Sequence[Item]) -> bytes:
    """The same in this process (the fallback), one byte per item."""
    verify = verify_detached
    return bytes([verify(pk, msg, sig) for pk, msg, sig in items])


def _recv_exact(sock: socket.socket, n: int) -> bytes | None:
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return bytes(buf)


def worker_main(fd: int) -> None:
    """Entry point of a worker process: serve frames on `fd` until it closes."""
    sock = socket.socket(fileno=fd)
    with sock:
        while True:
            head = _recv_exact(sock, 4)
            if head is None:
                return
            body = _recv_exact(sock, _LEN.unpack(head)[0])
            if body is None:
                return
            result = verify_request(body)
            sock.sendall(_LEN.pack(len(result)) + result)


class _Worker:
    def __init__(self, index: int) -> None:
        parent, child = socket.socketpair()
        self.index = index
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "v11node.verifier", str(child.fileno())],
                pass_fds=(child.fileno(),),
                stdin=subprocess.DEVNULL,
                close_fds=True,
            )
        finally:
            child.close()
        self.sock = parent
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.waiting: deque[tuple[asyncio.Future[bytes], int]] = deque()
        self.load = 0  # signatures sent and not yet answered
        self.task: asyncio.Task[None] | None = None
        self.alive = True

    async def connect(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(sock=self.sock)
        self.task = asyncio.create_task(self._read_loop(), name=f"verifier-{self.index}")

    async def _read_loop(self) -> None:
        assert self.reader is not None
        try:
            while True:
                head = await self.reader.readexactly(4)
                body = await self.reader.readexactly(_LEN.unpack(head)[0])
                fut, n = self.waiting.popleft()
                self.load -= n
                if not fut.done():
                    fut.set_result(body)
        except (asyncio.IncompleteReadError, ConnectionError, OSError) as exc:
            self._fail(exc)
        except asyncio.CancelledError:
            self._fail(ConnectionError("verifier stopped"))
            raise

    def _fail(self, exc: BaseException) -> None:
        if self.alive:
            self.alive = False
            log.warning("verifier process failed; verifying in threads", worker=self.index)
        while self.waiting:
            fut, _ = self.waiting.popleft()
            if not fut.done():
                fut.set_exception(ConnectionError(str(exc) or "verifier process gone"))
        self.load = 0

    def submit(self, frame: bytes, n: int) -> asyncio.Future[bytes]:
        assert self.writer is not None
        fut: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self.waiting.append((fut, n))
        self.load += n
        self.writer.write(frame)
        return fut

    def close(self) -> None:
        self.alive = False
        if self.task is not None:
            self.task.cancel()
        if self.writer is not None:
            self.writer.close()
        else:
            self.sock.close()

    def reap(self, timeout: float = 5.0) -> None:
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)


class Verifier:
    """Verify signatures on all cores: worker processes, or threads when `processes` is 0."""

    def __init__(self, processes: int, threads: int, min_chunk: int = 128) -> None:
        self._processes = processes
        self._min_chunk = min_chunk
        self._threads = ThreadPoolExecutor(max(threads, 1), thread_name_prefix="v11-verify")
        self._thread_count = max(threads, 1)
        self._workers: list[_Worker] = []

    async def start(self) -> None:
        for i in range(self._processes):
            try:
                worker = _Worker(i)
                await worker.connect()
            except OSError as exc:
                log.warning("cannot start a verifier process; verifying in threads", error=str(exc))
                break
            self._workers.append(worker)

    @property
    def processes(self) -> int:
        return sum(1 for w in self._workers if w.alive)

    async def verify(self, items: Sequence[Item]) -> list[int]:
        """Indices of the items whose signature does not verify."""
        if not items:
            return []
        workers = [w for w in self._workers if w.alive]
        parallel = len(workers) or self._thread_count
        chunk = max(-(-len(items) // parallel), self._min_chunk)
        parts = [items[i : i + chunk] for i in range(0, len(items), chunk)]
        results = await asyncio.gather(*(self._verify_part(p, workers) for p in parts))
        bad: list[int] = []
        for n, result in enumerate(results):
            if 0 in result:
                bad.extend(n * chunk + i for i, ok in enumerate(result) if not ok)
        return bad

    async def _verify_part(self, part: Sequence[Item], workers: list[_Worker]) -> bytes:
        if workers:
            worker = min(workers, key=lambda w: w.load)
            if worker.alive:
                with contextlib.suppress(ConnectionError):
                    return await worker.submit(encode_request(part), len(part))
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._threads, verify_items, part)

    async def close(self) -> None:
        """Close the sockets (on the event loop: a worker exits at end of input), then reap."""
        workers, self._workers = self._workers, []
        for worker in workers:
            worker.close()
        await asyncio.sleep(0)  # let the transports close their sockets

        def reap() -> None:
            for worker in workers:
                worker.reap()
            self._threads.shutdown(wait=True)

        await asyncio.to_thread(reap)


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt, BrokenPipeError, ConnectionError):
        worker_main(int(sys.argv[1]))
    os._exit(0)
