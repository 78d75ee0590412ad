"""The controller's state database (SQLite, in the state directory).

Everything the controller must remember across a crash lives here: deployments and their journal
of steps (written before a step acts), the timeline of events, the evidence behind each verdict,
the release registry (a deployed release may not change), which release runs in which slot, and
the deploy lock.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_SCHEMA = """
CREATE TABLE IF NOT EXISTS deployments (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    version TEXT NOT NULL, previous_version TEXT, strategy TEXT NOT NULL,
    kind TEXT NOT NULL,
    candidate_slot TEXT, stable_slot TEXT,
    -- running | paused | succeeded | failed | rolled_back | aborted
    status TEXT NOT NULL,
    reason TEXT, started_at REAL NOT NULL, finished_at REAL, lock_token INTEGER);
CREATE TABLE IF NOT EXISTS steps (
    deployment_id INTEGER NOT NULL, seq INTEGER NOT NULL, name TEXT NOT NULL,
    status TEXT NOT NULL,            -- started | done | failed | skipped
    started_at REAL NOT NULL, finished_at REAL, detail TEXT,
    PRIMARY KEY (deployment_id, seq));
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT, deployment_id INTEGER, at REAL NOT NULL,
    kind TEXT NOT NULL, message TEXT NOT NULL, data TEXT);
CREATE TABLE IF NOT EXISTS verdicts (
    id INTEGER PRIMARY KEY AUTOINCREMENT, deployment_id INTEGER NOT NULL, at REAL NOT NULL,
    gate TEXT NOT NULL, passed INTEGER NOT NULL, duration_s REAL, evidence TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS releases (
    version TEXT PRIMARY KEY, fingerprint TEXT NOT NULL, first_deployed_at REAL NOT NULL,
    last_good_at REAL);
CREATE TABLE IF NOT EXISTS slots (
    name TEXT PRIMARY KEY, version TEXT, port INTEGER,
    role TEXT NOT NULL,              -- live | warm | retiring | candidate | idle
    updated_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS deploy_lock (
    id INTEGER PRIMARY KEY CHECK (id = 1), holder TEXT, token INTEGER NOT NULL,
    acquired_at REAL, expires_at REAL NOT NULL);
INSERT OR IGNORE INTO deploy_lock (id, holder, token, acquired_at, expires_at)
    VALUES (1, NULL, 0, NULL, 0);
"""

TERMINAL = ("succeeded", "failed", "rolled_back", "aborted")


@dataclass(frozen=True)
class Deployment:
    id: int
    version: str
    previous_version: str | None
    strategy: str
    kind: str
    candidate_slot: str | None
    stable_slot: str | None
    status: str
    reason: str | None
    started_at: float
    finished_at: float | None

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class SlotState:
    name: str
    version: str | None
    port: int | None
    role: str


class LockHeld(RuntimeError):
    """Another deploy holds the lock."""

    def __init__(self, holder: str, since: float, expires_at: float) -> None:
        self.holder, self.since, self.expires_at = holder, since, expires_at
        age = time.time() - since
        super().__init__(
            f"another deploy is in progress: lock held by {holder} for {age:.0f}s"
            f" (expires in {max(expires_at - time.time(), 0):.0f}s unless renewed)"
        )


class StateDB:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.RLock()
        self._conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._conn.execute("PRAGMA journal_mode = WAL")
        self._conn.execute("PRAGMA synchronous = FULL")
        self._conn.execute("PRAGMA busy_timeout = 10000")
        self._conn.executescript(_SCHEMA)
        # Called after every slot change (the monitoring scrape targets follow the roles).
        self.on_slots_changed: Callable[[], None] | None = None

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Cursor]:
        with self._lock:
            cur = self._conn.cursor()
            cur.execute("BEGIN IMMEDIATE")
            try:
                yield cur
            except BaseException:
                cur.execute("ROLLBACK")
                raise
            cur.execute("COMMIT")

    def _query(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return list(self._conn.execute(sql, params).fetchall())

    # -- the deploy lock: a lease with expiry and a fencing token --------------------------------
    def acquire_lock(self, holder: str, ttl_s: float) -> int:
        """Take the lock (or renew it for the same holder); return its fencing token."""
        now = time.time()
        with self._tx() as cur:
            holder_now, token, acquired, expires = cur.execute(
                "SELECT holder, token, acquired_at, expires_at FROM deploy_lock WHERE id = 1"
            ).fetchone()
            if holder_now is not None and holder_now != holder and expires > now:
                raise LockHeld(holder_now, acquired, expires)
            if holder_now != holder or expires <= now:
                token += 1
                acquired = now
            cur.execute(
                "UPDATE deploy_lock SET holder = ?, token = ?, acquired_at = ?, expires_at = ?"
                " WHERE id = 1",
                (holder, token, acquired, now + ttl_s),
            )
        return int(token)

    def renew_lock(self, holder: str, token: int, ttl_s: float) -> bool:
        with self._tx() as cur:
            cur.execute(
                "UPDATE deploy_lock SET expires_at = ? WHERE id = 1 AND holder = ? AND token = ?",
                (time.time() + ttl_s, holder, token),
            )
            return cur.rowcount == 1

    def release_lock(self, holder: str, token: int) -> None:
        with self._tx() as cur:
            cur.execute(
                "UPDATE deploy_lock SET holder = NULL, expires_at = 0"
                " WHERE id = 1 AND holder = ? AND token = ?",
                (holder, token),
            )

    def lock_info(self) -> dict[str, Any]:
        holder, token, acquired, expires = self._query(
            "SELECT holder, token, acquired_at, expires_at FROM deploy_lock WHERE id = 1"
        )[0]
        live = holder is not None and expires > time.time()
        return {
            "holder": holder if live else None,
            "token": token,
            "since": acquired,
            "expires": expires,
        }

    def check_fence(self, cur: sqlite3.Cursor, token: int) -> None:
        (current,) = cur.execute("SELECT token FROM deploy_lock WHERE id = 1").fetchone()
        if current != token:
            raise LockHeld("a newer deploy", 0.0, 0.0)

    # -- deployments and the journal -------------------------------------------------------------
    def create_deployment(
        self,
        version: str,
        previous: str | None,
        strategy: str,
        kind: str,
        candidate_slot: str | None,
        stable_slot: str | None,
        token: int,
    ) -> int:
        with self._tx() as cur:
            self.check_fence(cur, token)
            cur.execute(
                "INSERT INTO deployments (version, previous_version, strategy, kind,"
                " candidate_slot, stable_slot, status, started_at, lock_token)"
                " VALUES (?, ?, ?, ?, ?, ?, 'running', ?, ?)",
                (
                    version,
                    previous,
                    strategy,
                    kind,
                    candidate_slot,
                    stable_slot,
                    time.time(),
                    token,
                ),
            )
            return int(cur.lastrowid or 0)

    def begin_step(self, deployment_id: int, name: str, token: int, detail: Any = None) -> int:
        """Journal a step before it acts; fenced so a deposed controller cannot write."""
        with self._tx() as cur:
            self.check_fence(cur, token)
            (seq,) = cur.execute(
                "SELECT COALESCE(MAX(seq), 0) + 1 FROM steps WHERE deployment_id = ?",
                (deployment_id,),
            ).fetchone()
            cur.execute(
                "INSERT INTO steps (deployment_id, seq, name, status, started_at, detail)"
                " VALUES (?, ?, ?, 'started', ?, ?)",
                (deployment_id, seq, name, time.time(), _dump(detail)),
            )
            return int(seq)

    def end_step(self, deployment_id: int, seq: int, status: str, detail: Any = None) -> None:
        with self._tx() as cur:
            cur.execute(
                "UPDATE steps SET status = ?, finished_at = ?, detail = COALESCE(?, detail)"
                " WHERE deployment_id = ? AND seq = ?",
                (status, time.time(), _dump(detail), deployment_id, seq),
            )

    def finish_deployment(self, deployment_id: int, status: str, reason: str | None) -> None:
        assert status in TERMINAL, status
        with self._tx() as cur:
            cur.execute(
                "UPDATE deployments SET status = ?, reason = ?, finished_at = ? WHERE id = ?"
                " AND status NOT IN ('succeeded', 'failed', 'rolled_back', 'aborted')",
                (status, reason, time.time(), deployment_id),
            )

    def set_status(self, deployment_id: int, status: str, reason: str | None = None) -> None:
        with self._tx() as cur:
            cur.execute(
                "UPDATE deployments SET status = ?, reason = COALESCE(?, reason) WHERE id = ?",
                (status, reason, deployment_id),
            )

    def deployment(self, deployment_id: int) -> Deployment | None:
        rows = self._query(_SELECT_DEPLOYMENTS + " WHERE id = ?", (deployment_id,))
        return Deployment(*rows[0]) if rows else None

    def deployments(self, limit: int = 20) -> list[Deployment]:
        rows = self._query(_SELECT_DEPLOYMENTS + " ORDER BY id DESC LIMIT ?", (limit,))
        return [Deployment(*r) for r in rows]

    def unfinished(self) -> list[Deployment]:
        unfinished = " WHERE status IN ('running', 'paused') ORDER BY id"
        rows = self._query(_SELECT_DEPLOYMENTS + unfinished)
        return [Deployment(*r) for r in rows]

    def steps(self, deployment_id: int) -> list[dict[str, Any]]:
        rows = self._query(
            "SELECT seq, name, status, started_at, finished_at, detail FROM steps"
            " WHERE deployment_id = ? ORDER BY seq",
            (deployment_id,),
        )
        return [
            {"seq": s, "name": n, "status": st, "startedAt": a, "finishedAt": f, "detail": _load(d)}
            for s, n, st, a, f, d in rows
        ]

    # -- timeline and evidence -------------------------------------------------------------------
    def event(self, deployment_id: int | None, kind: str, message: str, **data: Any) -> None:
        with self._tx() as cur:
            cur.execute(
                "INSERT INTO events (deployment_id, at, kind, message, data)"
                " VALUES (?, ?, ?, ?, ?)",
                (deployment_id, time.time(), kind, message, _dump(data or None)),
            )

    def events(self, deployment_id: int) -> list[dict[str, Any]]:
        rows = self._query(
            "SELECT at, kind, message, data FROM events WHERE deployment_id = ? ORDER BY id",
            (deployment_id,),
        )
        return [{"at": a, "kind": k, "message": m, "data": _load(d)} for a, k, m, d in rows]

    def verdict(
        self, deployment_id: int, gate: str, passed: bool, duration_s: float, evidence: Any
    ) -> None:
        with self._tx() as cur:
            cur.execute(
                "INSERT INTO verdicts (deployment_id, at, gate, passed, duration_s, evidence)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (deployment_id, time.time(), gate, int(passed), duration_s, _dump(evidence)),
            )

    def verdicts(self, deployment_id: int) -> list[dict[str, Any]]:
        rows = self._query(
            "SELECT at, gate, passed, duration_s, evidence FROM verdicts WHERE deployment_id = ?"
            " ORDER BY id",
            (deployment_id,),
        )
        return [
            {"at": a, "gate": g, "passed": bool(p), "durationS": d, "evidence": _load(e)}
            for a, g, p, d, e in rows
        ]

    # -- releases and slots ----------------------------------------------------------------------
    def register_release(self, version: str, fingerprint: str) -> None:
        """Record a release the first time it is deployed; refuse a changed definition later."""
        with self._tx() as cur:
            row = cur.execute(
                "SELECT fingerprint FROM releases WHERE version = ?", (version,)
            ).fetchone()
            if row is None:
                cur.execute(
                    "INSERT INTO releases (version, fingerprint, first_deployed_at)"
                    " VALUES (?, ?, ?)",
                    (version, fingerprint, time.time()),
                )
            elif row[0] != fingerprint:
                raise ReleaseChanged(version)

    def mark_good(self, version: str) -> None:
        with self._tx() as cur:
            cur.execute(
                "UPDATE releases SET last_good_at = ? WHERE version = ?", (time.time(), version)
            )

    def last_good_release(self, exclude: str | None = None) -> str | None:
        rows = self._query(
            "SELECT version FROM releases WHERE last_good_at IS NOT NULL AND version IS NOT ?"
            " ORDER BY last_good_at DESC LIMIT 1",
            (exclude,),
        )
        return str(rows[0][0]) if rows else None

    def set_slot(self, name: str, version: str | None, port: int | None, role: str) -> None:
        with self._tx() as cur:
            cur.execute(
                "INSERT INTO slots (name, version, port, role, updated_at) VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT (name) DO UPDATE SET version = excluded.version,"
                " port = excluded.port, role = excluded.role, updated_at = excluded.updated_at",
                (name, version, port, role, time.time()),
            )
        if self.on_slots_changed is not None:
            self.on_slots_changed()

    def slots(self) -> dict[str, SlotState]:
        rows = self._query("SELECT name, version, port, role FROM slots ORDER BY name")
        return {r[0]: SlotState(*r) for r in rows}


class ReleaseChanged(RuntimeError):
    def __init__(self, version: str) -> None:
        super().__init__(
            f"release {version} was already deployed with a different definition; releases are"
            " immutable: give the changed release a new version"
        )


_DEP_COLS = (
    "id, version, previous_version, strategy, kind, candidate_slot, stable_slot, status, reason,"
    " started_at, finished_at"
)
# Built from constants only; every value in the queries that extend it is bound with `?`.
_SELECT_DEPLOYMENTS = f"SELECT {_DEP_COLS} FROM deployments"  # nosec B608


def _dump(value: Any) -> str | None:
    return None if value is None else json.dumps(value, default=str)


def _load(raw: str | None) -> Any:
    return None if raw is None else json.loads(raw)
