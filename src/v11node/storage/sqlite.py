"""SQLite backend: the embedded default. WAL so readers never block the writer; FULL sync so a
committed write survives power loss; one connection per thread (sqlite3 objects are not shared)."""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

from v11node.storage.base import Cursor, LedgerStorage, StorageError
from v11node.storage.schema import schema_ddl

# INTEGER PRIMARY KEY makes seq the rowid, so arrival order costs no extra index.
_DDL = schema_ddl(bytes_type="BLOB", serial_key="INTEGER PRIMARY KEY AUTOINCREMENT")


class SqliteStorage(LedgerStorage):
    backend = "sqlite"

    def __init__(self, path: Path, busy_timeout_ms: int = 15_000) -> None:
        self.path = path
        self.url = f"sqlite:///{path}"
        self._busy_timeout_ms = busy_timeout_ms
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._in_use = 0
        self._closed = False
        path.parent.mkdir(parents=True, exist_ok=True)

    def _connection(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            if self._closed:
                raise StorageError("storage is closed")
            try:
                # isolation_level=None: we issue BEGIN ourselves, so transactions are explicit.
                conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
                conn.execute(f"PRAGMA busy_timeout = {self._busy_timeout_ms}")
                conn.execute("PRAGMA journal_mode = WAL")
                conn.execute("PRAGMA synchronous = FULL")
            except sqlite3.Error as exc:
                raise StorageError(f"cannot open {self.path}: {exc}") from exc
            self._local.conn = conn
            with self._lock:
                self._connections.append(conn)
        return conn

    @contextlib.contextmanager
    def _use(self, begin: str) -> Iterator[Cursor]:
        conn = self._connection()
        with self._lock:
            self._in_use += 1
        try:
            cur = conn.cursor()
            cur.execute(begin)
            try:
                yield cur
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            raise StorageError(f"sqlite {self.path}: {exc}") from exc
        finally:
            with self._lock:
                self._in_use -= 1

    def _read(self) -> contextlib.AbstractContextManager[Cursor]:
        return self._use("BEGIN DEFERRED")

    def _write(self) -> contextlib.AbstractContextManager[Cursor]:
        # IMMEDIATE takes the write lock up front: the lease check and the block insert that
        # follows it cannot interleave with another process's write.
        return self._use("BEGIN IMMEDIATE")

    def _ddl(self) -> list[str]:
        return _DDL

    def _now_ms_sql(self) -> str:
        return "CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)"

    def _lock_lease_sql(self) -> str:
        return "SELECT holder, epoch FROM producer_lease WHERE id = 1"

    def _sql(self, query: str) -> str:
        return query

    def pool_stats(self) -> tuple[int, int, int]:
        with self._lock:
            total = len(self._connections)
            return self._in_use, max(total - self._in_use, 0), max(total, 1)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            for conn in self._connections:
                with contextlib.suppress(sqlite3.Error):
                    conn.close()
            self._connections.clear()
