"""The ledger schema: versioned, forward migrations only, and the node refuses a newer one."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from tests.backup.conftest import cli
from tests.backup.ledger import build_ledger
from v11node.ledger.verify import verify_chain
from v11node.storage import StorageError, open_storage
from v11node.storage.migrations import BASE_VERSION, LATEST_VERSION, current_version, migrate


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> object:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'ledger.db'}"
        return
    from tests.support.services import fresh_postgres_database

    with fresh_postgres_database() as pg:
        yield pg


def test_a_new_ledger_starts_at_the_base_version_and_migrates_forward(url: str) -> None:
    storage = build_ledger(url)
    assert current_version(storage) == BASE_VERSION == 1
    report = migrate(storage)
    assert (report.from_version, report.to_version) == (1, LATEST_VERSION)
    assert [m.version for m in report.applied] == list(range(2, LATEST_VERSION + 1))
    assert current_version(storage) == LATEST_VERSION
    assert migrate(storage).applied == [], "a second run applies nothing"
    assert verify_chain(storage).ok, "the migrated ledger still verifies"
    storage.close()
    reopened = open_storage(url)  # the node opens a migrated ledger
    assert current_version(reopened) == LATEST_VERSION
    reopened.close()


def test_node_migrate_cli_and_its_refusals(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    build_ledger(url).close()
    dry = cli("node", "migrate", "--db", url, "--dry-run", "--json")
    assert dry.exit_code == 0, dry.output
    assert json.loads(dry.stdout)["applied"][0]["version"] == 2
    assert current_version(open_storage(url)) == 1, "a dry run changes nothing"
    done = cli("node", "migrate", "--db", url, "--to", "2")
    assert done.exit_code == 0 and "schema 1 -> 2" in done.stdout
    down = cli("node", "migrate", "--db", url, "--to", "1")
    assert down.exit_code == 2 and "no down migrations" in down.output
    beyond = cli("node", "migrate", "--db", url, "--to", str(LATEST_VERSION + 1))
    assert beyond.exit_code == 2 and "no migration to schema" in beyond.output
    missing = cli("node", "migrate", "--db", f"sqlite:///{tmp_path / 'none.db'}")
    assert missing.exit_code == 2 and "no such database file" in missing.output


def test_the_node_refuses_a_schema_newer_than_it_knows(tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"
    build_ledger(f"sqlite:///{path}").close()
    with sqlite3.connect(path) as conn:
        conn.execute(
            "UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(LATEST_VERSION + 1),)
        )
    with pytest.raises(StorageError, match="newer than this node understands"):
        open_storage(f"sqlite:///{path}")
    result = cli("node", "verify", "--db", f"sqlite:///{path}")
    assert result.exit_code == 2 and "run a newer release" in result.output
