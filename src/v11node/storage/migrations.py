"""Forward migrations of the ledger schema, and the version every database records.

A new database is created at BASE_VERSION (schema.py); `meta.schema_version` says where it is.
Each migration moves it one version forward in one transaction: DDL is transactional in SQLite
and PostgreSQL, so a migration that fails leaves the previous version intact. There are no down
migrations: going back means restoring the backup taken before the migration
(`v11ops rollback --restore-db`).

Migrations are additive (expand only), so this node's code runs on every version from
BASE_VERSION to LATEST_VERSION. Which versions a *release* may run on is declared per release
in v11ops.yaml (`releases.<version>.schema_versions`) and enforced by the deploy controller.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from v11node.storage.base import StorageError

if TYPE_CHECKING:
    from v11node.storage.base import Cursor, LedgerStorage


@dataclass(frozen=True)
class Migration:
    version: int  # the version the database is at after this migration
    description: str
    statements: tuple[str, ...]


BASE_VERSION = 1
MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        2,
        "index transactions by sender and nonce (account history lookups)",
        ("CREATE INDEX IF NOT EXISTS tx_sender_nonce ON transactions (sender, nonce)",),
    ),
)
LATEST_VERSION = MIGRATIONS[-1].version if MIGRATIONS else BASE_VERSION


@dataclass(frozen=True)
class MigrationReport:
    from_version: int
    to_version: int
    applied: list[Migration] = field(default_factory=list)

    def to_json(self) -> dict[str, object]:
        return {
            "from": self.from_version,
            "to": self.to_version,
            "applied": [{"version": m.version, "description": m.description} for m in self.applied],
        }


def parse_version(raw: object) -> int:
    """The integer in `meta.schema_version`; StorageError when it is not one this node knows."""
    try:
        version = int(str(raw))
    except ValueError:
        raise StorageError(f"schema version {raw!r} is not a number") from None
    if version < BASE_VERSION:
        raise StorageError(f"schema version {version} is below the base version {BASE_VERSION}")
    if version > LATEST_VERSION:
        raise StorageError(
            f"schema version {version} is newer than this node understands"
            f" ({BASE_VERSION}..{LATEST_VERSION}): run a newer release"
        )
    return version


def pending(current: int, target: int) -> list[Migration]:
    """The migrations that take a database from `current` to `target`, in order."""
    return [m for m in MIGRATIONS if current < m.version <= target]


def check_target(current: int, target: int) -> None:
    """StorageError unless `target` is reachable forward from `current`."""
    if target > LATEST_VERSION:
        raise StorageError(f"no migration to schema {target}: the newest is {LATEST_VERSION}")
    if target < current:
        raise StorageError(
            f"the database is at schema {current}; there are no down migrations to {target}:"
            " restore a backup taken before the migration instead"
        )


def current_version(storage: LedgerStorage) -> int:
    with storage._read() as cur:
        cur.execute(storage._sql("SELECT value FROM meta WHERE key = ?"), ("schema_version",))
        row = cur.fetchone()
    if row is None:
        raise StorageError("the database has no schema version")
    return parse_version(row[0])


def migrate(storage: LedgerStorage, target: int | None = None) -> MigrationReport:
    """Apply the pending migrations up to `target` (default: the newest), one transaction each."""
    start = current_version(storage)
    goal = LATEST_VERSION if target is None else target
    check_target(start, goal)
    applied: list[Migration] = []
    for migration in pending(start, goal):
        with storage._write() as cur:
            # Another migrator may have gone ahead between our read and this lock.
            if _locked_version(storage, cur) >= migration.version:
                continue
            for statement in migration.statements:
                cur.execute(statement)
            cur.execute(
                storage._sql("UPDATE meta SET value = ? WHERE key = ?"),
                (str(migration.version), "schema_version"),
            )
        applied.append(migration)
    return MigrationReport(start, max(goal, start), applied)


def _locked_version(storage: LedgerStorage, cur: Cursor) -> int:
    """The version, read inside the write transaction with the row locked (PostgreSQL; SQLite's
    BEGIN IMMEDIATE already holds the database's write lock)."""
    lock = " FOR UPDATE" if storage.backend == "postgresql" else ""
    cur.execute(storage._sql(f"SELECT value FROM meta WHERE key = ?{lock}"), ("schema_version",))  # nosec B608: lock is a constant
    return parse_version(cur.fetchone()[0])
