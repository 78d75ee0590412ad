"""The control plane's access database (`<state_dir>/access.db`): API tokens and the audit log.

Separate from state.db on purpose: a backup or restore of the deployment state must never bring
back a revoked token or rewind the audit log. WAL with synchronous=FULL: a committed audit entry
survives a crash of the controller or the host.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

ACCESS_DB = "access.db"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS tokens (
    id TEXT PRIMARY KEY, role TEXT NOT NULL, name TEXT NOT NULL,
    salt BLOB NOT NULL, hash BLOB NOT NULL,
    created_at REAL NOT NULL, expires_at REAL, revoked_at REAL);
CREATE TABLE IF NOT EXISTS audit (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, entry TEXT NOT NULL, hash TEXT NOT NULL);
"""


def access_db_path(state_dir: Path) -> Path:
    return state_dir / ACCESS_DB


def connect(path: Path, readonly: bool = False) -> sqlite3.Connection:
    """A connection in autocommit mode; the schema is created unless read-only."""
    if readonly:
        if not path.exists():
            raise FileNotFoundError(f"no access database at {path}")
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None)
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = FULL")
    conn.execute("PRAGMA busy_timeout = 10000")
    if not readonly:
        conn.executescript(_SCHEMA)
    return conn
