"""The audit log of the control plane: an append-only, hash-chained table in access.db.

Each entry is a JSON document holding its sequence number and the SHA-256 of the entry before it
(`prev`; 64 zeros for the first); its own hash is the SHA-256 of its canonical JSON (sorted keys,
no spaces). So editing an entry breaks its hash, removing one breaks the numbering and the next
entry's `prev`, and swapping two breaks both. SQLite's AUTOINCREMENT counter also remembers the
highest number ever written, which catches a removed tail. What a chain cannot catch is a full
rewrite by someone who can write the file: `audit verify` prints the head hash so that it can be
recorded elsewhere.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from v11ops.security.db import connect

GENESIS = "0" * 64


def canonical(document: dict[str, Any]) -> bytes:
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def entry_hash(document: dict[str, Any]) -> str:
    return hashlib.sha256(canonical(document)).hexdigest()


@dataclass(frozen=True)
class Verification:
    count: int
    head: str
    bad_seq: int | None = None
    problem: str | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None


class AuditLog:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._conn = connect(path)
        self._lock = threading.Lock()

    def close(self) -> None:
        self._conn.close()

    def append(self, record: dict[str, Any]) -> dict[str, Any]:
        """Chain `record` after the last entry and commit it (fsynced: synchronous=FULL)."""
        with self._lock:
            cur = self._conn.cursor()
            cur.execute("BEGIN IMMEDIATE")
            try:
                last = cur.execute(
                    "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1"
                ).fetchone()
                seq = _counter(cur) + 1
                document = {**record, "seq": seq, "prev": last[1] if last else GENESIS}
                cur.execute(
                    "INSERT INTO audit (seq, entry, hash) VALUES (?, ?, ?)",
                    (seq, canonical(document).decode(), entry_hash(document)),
                )
                cur.execute("COMMIT")
            except BaseException:
                cur.execute("ROLLBACK")
                raise
        return document


def _counter(cur: sqlite3.Cursor) -> int:
    """The highest sequence number ever written (kept by SQLite's AUTOINCREMENT)."""
    row = cur.execute("SELECT seq FROM sqlite_sequence WHERE name = 'audit'").fetchone()
    return int(row[0]) if row else 0


def read_entries(path: Path) -> Iterator[tuple[int, str, str]]:
    """(seq, entry JSON, hash) rows in sequence order, read-only."""
    conn = connect(path, readonly=True)
    try:
        yield from conn.execute("SELECT seq, entry, hash FROM audit ORDER BY seq")
    finally:
        conn.close()


def verify(path: Path) -> Verification:
    """Walk the chain; the first entry that does not fit is named."""
    prev, count = GENESIS, 0
    for seq, text, stored_hash in read_entries(path):
        expected = count + 1
        problem = _check_entry(seq, text, stored_hash, expected, prev)
        if problem is not None:
            return Verification(count, prev, bad_seq=seq, problem=problem)
        prev, count = stored_hash, expected
    written = _written_count(path)
    if written > count:
        missing = f"entries {count + 1}-{written}" if written > count + 1 else f"entry {written}"
        return Verification(count, prev, count + 1, f"{missing} removed from the end of the log")
    return Verification(count, prev)


def _check_entry(seq: int, text: str, stored_hash: str, expected: int, prev: str) -> str | None:
    if seq != expected:
        return f"entry {seq} follows entry {expected - 1}: entry {expected} was removed"
    try:
        document = json.loads(text)
    except ValueError:
        return f"entry {seq} is not valid JSON"
    if not isinstance(document, dict):
        return f"entry {seq} is not a JSON object"
    if entry_hash(document) != stored_hash:
        return f"entry {seq} was edited: its content does not match its hash"
    if document.get("seq") != seq:
        return f"entry {seq} holds entry {document.get('seq')}: entries were reordered"
    if document.get("prev") != prev:
        return f"entry {seq} does not follow entry {seq - 1}: the chain is broken there"
    return None


def _written_count(path: Path) -> int:
    conn = connect(path, readonly=True)
    try:
        return _counter(conn.cursor())
    finally:
        conn.close()


def entries(path: Path) -> list[dict[str, Any]]:
    """Every entry as a dict (with its hash), oldest first."""
    return [{**json.loads(text), "hash": digest} for _, text, digest in read_entries(path)]
