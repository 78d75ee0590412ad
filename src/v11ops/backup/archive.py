"""Backup files: a zstd stream (with its content checksum), encrypted with AES-256-GCM in chunks.

Without encryption a file is one standard zstd frame (`zstd -d` reads it). Encrypted:

    header  = MAGIC (8 bytes) | chunk size (4, big-endian) | salt (16)
    chunk i = AES-256-GCM(file key, nonce i, next `chunk size` compressed bytes,
                          associated data = header | file name)
    nonce i = i (11 bytes, big-endian) | final flag (1 byte: 1 on the last chunk, else 0)

The file key is HKDF(backup key, salt), unique per file, so counter nonces never repeat. Every
chunk but the last is full. As the index and the final flag are authenticated (the STREAM
construction), a flipped byte, a dropped or reordered chunk, a file cut short even at a chunk
boundary, and a file swapped with another backup file all fail authentication.
"""

from __future__ import annotations

import hashlib
import io
import os
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import zstandard
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from v11ops.backup.errors import IntegrityError
from v11ops.backup.keys import BackupKey

MAGIC = b"V11BKE\x00\x01"
CHUNK_BYTES = 1 << 20
_TAG = 16
_HEADER = len(MAGIC) + 4 + 16
_READ = 1 << 20


@dataclass(frozen=True)
class StoredFile:
    """One written file: what the manifest records about it."""

    name: str
    size_bytes: int
    sha256: str
    plain_bytes: int


class ArchiveWriter:
    """Compress (and encrypt) a byte stream into a new file; `close()` syncs it to disk.

    zstd runs in the caller's thread (and its own workers); sealing, hashing and writing run in
    one background thread, in order, so the two overlap on separate cores.
    """

    def __init__(self, path: Path, key: BackupKey | None, level: int, name: str = "") -> None:
        """`name`: the file's final name, authenticated with its chunks (default: the path's)."""
        self.path = path
        self.name = name or path.name
        # Owner-only: a backup holds the whole ledger (and, unencrypted, in the clear).
        self._file = os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb")
        self._digest = hashlib.sha256()
        self._size = 0
        self._plain = 0
        self._buf = bytearray()
        self._compress = zstandard.ZstdCompressor(
            level=level, threads=-1, write_checksum=True
        ).compressobj()
        self._aead: AESGCM | None = None
        self._index = 0
        self._sealer = ThreadPoolExecutor(1, thread_name_prefix="backup-seal")
        self._queued: deque[Future[None]] = deque()
        if key is not None:
            salt = os.urandom(16)
            header = MAGIC + CHUNK_BYTES.to_bytes(4, "big") + salt
            self._aead = AESGCM(key.derive(b"file", salt))
            self._aad = header + self.name.encode()
            self._emit(header)

    def write(self, data: bytes | bytearray | memoryview) -> int:
        self._plain += len(data)
        self._take(self._compress.compress(data))
        return len(data)

    def close(self) -> StoredFile:
        self._take(self._compress.flush())
        if self._aead is not None:
            self._queue(bytes(self._buf), final=True)
        while self._queued:
            self._queued.popleft().result()
        self._sealer.shutdown()
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        return StoredFile(self.name, self._size, self._digest.hexdigest(), self._plain)

    def abort(self) -> None:
        self._sealer.shutdown(cancel_futures=True)
        self._file.close()
        self.path.unlink(missing_ok=True)

    def _take(self, compressed: bytes) -> None:
        if self._aead is None:
            self._queue(compressed, final=False)
            return
        self._buf += compressed
        # Strictly more than a chunk: the last chunk (sealed as final in close) is never empty
        # unless the whole stream is.
        while len(self._buf) > CHUNK_BYTES:
            self._queue(bytes(self._buf[:CHUNK_BYTES]), final=False)
            del self._buf[:CHUNK_BYTES]

    def _queue(self, piece: bytes, final: bool) -> None:
        """Seal and write `piece` in the background; at most a few chunks wait (memory bound),
        and a failure there surfaces here."""
        if self._aead is not None:
            piece_index, self._index = self._index, self._index + 1
            self._queued.append(self._sealer.submit(self._seal, piece, piece_index, final))
        else:
            self._queued.append(self._sealer.submit(self._emit, piece))
        while len(self._queued) > 4 or (self._queued and self._queued[0].done()):
            self._queued.popleft().result()

    def _seal(self, plain: bytes, index: int, final: bool) -> None:
        assert self._aead is not None
        self._emit(self._aead.encrypt(_nonce(index, final), plain, self._aad))

    def _emit(self, data: bytes) -> None:
        if data:
            self._file.write(data)
            self._digest.update(data)
            self._size += len(data)


def read_archive(path: Path, key: BackupKey | None) -> Iterator[bytes]:
    """The plaintext of a backup file, in pieces; IntegrityError on any damage. `key` is None
    for a file written without encryption."""
    with path.open("rb") as f:
        pieces = _decrypt(f, path, key) if key is not None else iter(lambda: f.read(_READ), b"")
        stream = zstandard.ZstdDecompressor().decompressobj()
        for piece in pieces:
            try:
                out = stream.decompress(piece)
            except zstandard.ZstdError as exc:
                raise IntegrityError(f"{path.name}: not a valid zstd stream ({exc})") from None
            if out:
                yield out
        if not stream.eof:
            raise IntegrityError(f"{path.name}: truncated (the compressed stream does not end)")
        if stream.unused_data:
            raise IntegrityError(f"{path.name}: unexpected data after the end of the stream")


def _decrypt(f: BinaryIO, path: Path, key: BackupKey) -> Iterator[bytes]:
    header = f.read(_HEADER)
    if len(header) < _HEADER or not header.startswith(MAGIC):
        raise IntegrityError(f"{path.name}: not an encrypted v11ops backup file (bad header)")
    chunk = int.from_bytes(header[8:12], "big")
    if not 4096 <= chunk <= 64 << 20:
        raise IntegrityError(f"{path.name}: bad chunk size {chunk} in the header")
    aead = AESGCM(key.derive(b"file", header[12:]))
    aad = header + path.name.encode()
    step = chunk + _TAG
    index = 0
    block = f.read(step)
    while True:
        following = f.read(step) if len(block) == step else b""
        final = not following
        try:
            yield aead.decrypt(_nonce(index, final), block, aad)
        except InvalidTag:
            raise IntegrityError(
                f"{path.name}: chunk {index} fails authentication: the file is corrupted,"
                " truncated or reordered, or was encrypted with another key"
            ) from None
        if final:
            return
        block, index = following, index + 1


def _nonce(index: int, final: bool) -> bytes:
    return index.to_bytes(11, "big") + (b"\x01" if final else b"\x00")


def file_sha256(path: Path) -> tuple[int, str]:
    """(size, SHA-256 hex) of a file as stored."""
    with path.open("rb") as f:
        digest = hashlib.file_digest(f, "sha256")
    return path.stat().st_size, digest.hexdigest()


class StreamReader(io.RawIOBase):
    """A readable file over an iterator of byte pieces (for tarfile and subprocess pipes)."""

    def __init__(self, pieces: Iterator[bytes]) -> None:
        self._pieces = pieces
        self._rest = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        while not self._rest:
            nxt = next(self._pieces, None)
            if nxt is None:
                return 0
            self._rest = memoryview(nxt)
        n = min(len(buffer), len(self._rest))
        buffer[:n] = self._rest[:n]
        self._rest = self._rest[n:]
        return n
