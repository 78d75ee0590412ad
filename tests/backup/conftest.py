from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from typer.testing import CliRunner, Result

from tests.backup.ledger import build_ledger
from tests.support.services import fresh_postgres_database
from v11ops.backup.keys import BackupKey, parse_key
from v11ops.backup.manifest import Manifest, amend_manifest
from v11ops.cli.main import app

TABLES = ("meta", "transactions", "blocks", "accounts", "genesis", "producer_lease", "nodes")
runner = CliRunner()


def cli(*args: str, env: dict[str, str] | None = None) -> Result:
    """`v11ops ...` in this process; the backup key is never inherited from the environment."""
    return runner.invoke(app, list(args), env={"V11OPS_BACKUP_KEY": "", **(env or {})})


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    path = tmp_path / "backup.key"
    path.write_text(os.urandom(32).hex() + "\n")
    path.chmod(0o600)
    return path


@pytest.fixture
def key(key_file: Path) -> BackupKey:
    return parse_key(key_file.read_text(), "test key")


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'live' / 'ledger.db'}"
    build_ledger(url).close()
    return url


@pytest.fixture
def pg_url() -> Iterator[str]:
    with fresh_postgres_database() as url:
        build_ledger(url).close()
        yield url


def rows(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every ledger table, ordered: restore must reproduce them exactly."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    if url.startswith("sqlite:///"):
        conn: Any = sqlite3.connect(url.removeprefix("sqlite:///"))
    else:
        conn = psycopg.connect(url)
    try:
        for table in TABLES:
            cur = conn.execute(f"SELECT * FROM {table} ORDER BY 1")
            out[table] = [
                tuple(bytes(v) if isinstance(v, memoryview) else v for v in r)
                for r in cur.fetchall()
            ]
    finally:
        conn.close()
    return out


def claim_height(repo: Path, backup_id: str, key: BackupKey, height: int) -> None:
    """Re-sign the manifest with another ledger height than the backup holds (a lying but
    authentic manifest: restore must notice the difference)."""

    def change(m: Manifest) -> Manifest:
        assert m.ledger is not None
        return m.model_copy(update={"ledger": m.ledger.model_copy(update={"height": height})})

    amend_manifest(repo, backup_id, key, change)


def claim_more_bytes(repo: Path, backup_id: str, key: BackupKey) -> None:
    """Re-sign the manifest saying the first file restores to one byte more than it does."""

    def change(m: Manifest) -> Manifest:
        first = m.files[0]
        files = [first.model_copy(update={"plain_bytes": first.plain_bytes + 1}), *m.files[1:]]
        return m.model_copy(update={"files": files})

    amend_manifest(repo, backup_id, key, change)
