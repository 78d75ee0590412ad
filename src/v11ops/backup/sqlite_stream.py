"""A live SQLite ledger streamed into a backup while SQLite is still copying it.

The online backup API takes a consistent copy in one step (in WAL mode the node keeps writing
meanwhile). Compressing only once that copy had ended made a backup take 1.7-2.3x as long as a
bare `sqlite3 .backup` (docs/benchmarks.md). Here the copy runs in a thread into a scratch file
with a small page cache, so SQLite writes the pages out in order as it copies, and the backup
reads, compresses and encrypts them right behind it, on the other core.

The stream is the file with its first page moved to the end (format `sqlite-header-last`): page 1
holds the header, which SQLite rewrites when the copy commits, so it is read last. Correctness
does not rest on SQLite's write order: once the copy has committed, the pages already streamed
are read again and their CRC-32 compared with what was streamed (a check against our own
scratch file changing under us, not against an attacker: the archive's SHA-256 and AES-GCM
cover that). On any difference, `Rewritten` tells the caller to stream the finished file whole.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from v11ops.backup.errors import BackupError, IntegrityError
from v11ops.backup.manifest import LedgerState
from v11ops.backup.sources import ledger_state

HEADER_LAST = "sqlite-header-last"
_READ = 4 << 20
_SEGMENT = 64 << 20  # streamed bytes are checked per segment, the segments on every core
_TARGET_CACHE_PAGES = 256  # small: pages are written out while the copy runs, in page order
_MAGIC = b"SQLite format 3\x00"


class Rewritten(Exception):
    """A page of the scratch file changed after it was streamed."""


@dataclass
class _Copy:
    done: threading.Event = field(default_factory=threading.Event)
    state: LedgerState | None = None
    error: BaseException | None = None


def page_size(path: Path) -> int:
    """The page size recorded in a SQLite file's header."""
    with path.open("rb") as f:
        header = f.read(100)
    if not header:
        return 4096  # an empty file is an empty database (SQLite's default page size)
    if not header.startswith(_MAGIC):
        raise BackupError(f"{path} is not a SQLite database")
    size = int.from_bytes(header[16:18], "big")
    return 65536 if size == 1 else size


class StreamedCopy:
    """What `stream_copy` streamed: the ledger state of the copy, and the check, running in a
    thread meanwhile, that every streamed page still holds what was streamed."""

    def __init__(
        self, state: LedgerState, scratch: Path, page: int, end: int, crcs: list[int]
    ) -> None:
        self.state = state
        self._scratch = scratch
        self._expected = crcs
        self._found: list[int] = []
        # It overlaps with the compressor catching up (the archive's close) and runs on every
        # core: read again in one thread, 1 GB took 0.45 s, added to the backup's time.
        self._thread = threading.Thread(
            target=self._check, args=(page, end), name="backup-check", daemon=True
        )
        self._thread.start()

    def _check(self, page: int, end: int) -> None:
        def segment(lo: int) -> int:
            crcs: list[int] = []
            _stream(fd, lo, min(lo + _SEGMENT, end), None, crcs, lo)
            return crcs[0] if crcs else 0

        with self._scratch.open("rb", buffering=0) as f:
            fd = f.fileno()
            with ThreadPoolExecutor(os.cpu_count() or 1, thread_name_prefix="backup-check") as pool:
                self._found = list(pool.map(segment, range(page, end, _SEGMENT)))

    def confirm(self) -> None:
        """Raise Rewritten unless the streamed pages are the finished copy's."""
        self._thread.join()
        if self._found != self._expected:
            raise Rewritten(f"{self._scratch}: a page changed after it was streamed")


def stream_copy(url: str, path: Path, scratch: Path, sink: IO[bytes], page: int) -> StreamedCopy:
    """Copy the live database at `path` (pages of `page` bytes) into `scratch` and stream it to
    `sink`, header page last. Call `confirm()` on the result before relying on what was
    streamed; `scratch` holds the finished copy either way."""
    copy = _Copy()
    thread = threading.Thread(
        target=_copy, args=(url, path, scratch, copy), name="backup-copy", daemon=True
    )
    thread.start()
    crcs: list[int] = []
    offset = page
    try:
        with scratch.open("rb", buffering=0) as f:
            fd = f.fileno()
            while True:
                finished = copy.done.is_set()  # before the size: after the copy, it is final
                end = os.fstat(fd).st_size
                offset = _stream(fd, offset, end - end % page, sink, crcs, page)
                if finished:
                    break
                copy.done.wait(0.005)
            if copy.error is not None:  # set before `done`, like the state
                raise copy.error
            assert copy.state is not None
            streamed = StreamedCopy(copy.state, scratch, page, offset, crcs)
            sink.write(os.pread(fd, page, 0))
    finally:
        # Should the archive fail (a full disk), the copy still ends (it cannot be interrupted)
        # before the scratch file goes: no read transaction stays open on the live ledger.
        thread.join()
    return streamed


def _copy(url: str, path: Path, scratch: Path, copy: _Copy) -> None:
    try:
        source = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        target = sqlite3.connect(scratch)
        try:
            source.execute("PRAGMA busy_timeout = 15000")
            # A throwaway copy: no rollback journal, no fsync (it is read once, then deleted).
            target.execute("PRAGMA journal_mode = OFF")
            target.execute("PRAGMA synchronous = OFF")
            target.execute(f"PRAGMA cache_size = {_TARGET_CACHE_PAGES}")
            source.backup(target)
            copy.state = ledger_state(target.cursor(), "sqlite")
        finally:
            source.close()
            target.close()
    except sqlite3.Error as exc:
        copy.error = BackupError(f"{url}: online backup failed: {exc}")
    except BaseException as exc:
        copy.error = exc
    finally:
        copy.done.set()


def _stream(
    fd: int, offset: int, end: int, sink: IO[bytes] | None, crcs: list[int], base: int
) -> int:
    """Read [offset, end) of the file, into `sink` when given, and add to `crcs` the CRC-32 of
    each _SEGMENT bytes counted from `base`; return the offset reached."""
    while offset < end:
        segment, within = divmod(offset - base, _SEGMENT)
        data = os.pread(fd, min(_READ, end - offset, _SEGMENT - within), offset)
        if not data:
            break
        if sink is not None:
            sink.write(data)
        if segment == len(crcs):
            crcs.append(0)
        crcs[segment] = zlib.crc32(data, crcs[segment])
        offset += len(data)
    return offset


def move_header_first(fd: int, header_bytes: int) -> None:
    """Turn a file written as `pages 2..N` at offset `header_bytes`, then page 1, into the
    database: page 1 goes to offset 0 and the file ends after page N."""
    size = os.fstat(fd).st_size
    if header_bytes <= 0 or size < 2 * header_bytes:
        raise IntegrityError(f"a header-last SQLite copy of {size} bytes is too short")
    header = os.pread(fd, header_bytes, size - header_bytes)
    if not header.startswith(_MAGIC):
        raise IntegrityError("the last page of a header-last SQLite copy is not a SQLite header")
    os.pwrite(fd, header, 0)
    os.ftruncate(fd, size - header_bytes)
