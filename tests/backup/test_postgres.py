"""Backups of a PostgreSQL ledger: pg_dump -Fc in an exported snapshot, pg_restore, drills."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
import pytest

from tests.backup.conftest import cli, rows
from tests.support.services import PG_ADMIN_URL, require_binary

pytestmark = pytest.mark.postgres


@pytest.fixture(autouse=True)
def _tools() -> None:
    require_binary("pg_dump")
    require_binary("pg_restore")


def test_restore_equals_the_original_row_by_row(
    pg_url: str, tmp_path: Path, key_file: Path
) -> None:
    from v11ops.backup.restore import drop_database

    repo = tmp_path / "repo"
    created = cli(
        "backup", "create", "--db", pg_url, "--repo", str(repo), "--key-file", str(key_file),
        "--json",
    )  # fmt: skip
    assert created.exit_code == 0, created.output
    manifest = json.loads(created.stdout)
    assert manifest["source"]["backend"] == "postgresql" and "pg_dump" in manifest["tools"]
    assert manifest["files"][0]["format"] == "pg_dump"
    target = pg_url + "_restored"  # a database that does not exist yet: restore creates it
    args = ["backup", "restore", "--repo", str(repo), "--key-file", str(key_file), "--to", target]
    try:
        result = cli(*args, "--json")
        assert result.exit_code == 0, result.output
        chain = json.loads(result.stdout)["ledger"]["chain"]
        assert chain["ok"] and chain["tipHash"] == manifest["ledger"]["tip_hash"]
        assert rows(target) == rows(pg_url)

        refused = cli(*args)
        assert refused.exit_code == 2 and "--force" in refused.output
        with psycopg.connect(target, autocommit=True) as conn:
            conn.execute("UPDATE accounts SET balance = balance + 1")  # diverge, then replace
        forced = cli(*args, "--force")
        assert forced.exit_code == 0, forced.output
        assert rows(target) == rows(pg_url)
    finally:
        drop_database(target)


def test_a_drill_uses_a_scratch_database_and_drops_it(
    pg_url: str, tmp_path: Path, key_file: Path
) -> None:
    repo = tmp_path / "repo"
    assert (
        cli(
            "backup", "create", "--db", pg_url, "--repo", str(repo), "--key-file", str(key_file)
        ).exit_code
        == 0
    )
    result = cli(
        "backup",
        "drill",
        "--repo",
        str(repo),
        "--key-file",
        str(key_file),
        "--scratch-url",
        PG_ADMIN_URL,
        "--json",
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["restore"]["chain"]["height"] == 4
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        left = admin.execute(
            "SELECT count(*) FROM pg_database WHERE datname LIKE 'v11ops_drill_%'"
        ).fetchone()
    assert left == (0,)
