"""PostgreSQL point-in-time recovery: WAL archived by `v11ops backup wal-push`, a base backup by
pg_basebackup, and a restore that stops at the requested moment."""

from __future__ import annotations

import json
import os
import site
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest

import v11ops
from tests.backup.conftest import cli
from tests.backup.ledger import add_blocks, build_ledger
from tests.backup.pgcluster import (
    Cluster,
    available,
    chown_tree,
    reachable_by_postgres,
    remove,
    scratch_root,
    v11ops_command,
)
from v11node.ledger.verify import verify_chain
from v11node.storage import open_storage
from v11ops.backup.pitr import archive_command

pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.timeout(300)]


@pytest.fixture
def root() -> Iterator[object]:
    available()
    path = scratch_root()
    clusters: list[Cluster] = []
    # The archive command runs this checkout's code with its packages (pgcluster.v11ops_command).
    with reachable_by_postgres(Path(v11ops.__file__), *map(Path, site.getsitepackages())):
        yield path, clusters
        for c in clusters:
            c.stop()
    remove(path)


def _wait_archived(url: str, segment: str, timeout_s: float = 90) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with psycopg.connect(url) as conn:
            row = conn.execute(
                "SELECT last_archived_wal, last_failed_wal FROM pg_stat_archiver"
            ).fetchone()
        if row and row[0] and row[0] >= segment:
            return
        time.sleep(0.2)
    raise AssertionError(f"{segment} was not archived; pg_stat_archiver: {row}")


def test_pitr_restores_the_ledger_as_it_was_at_the_requested_moment(root: object) -> None:
    path, clusters = root  # type: ignore[misc]
    repo, key_file = path / "repo", path / "backup.key"
    key_file.write_text(os.urandom(32).hex())
    repo.mkdir()
    chown_tree(path)
    primary = Cluster(path / "primary", path)
    clusters.append(primary)
    primary.init(
        {
            "archive_mode": "on",
            "wal_level": "replica",
            "archive_command": archive_command(repo, key_file, v11ops_command()),
        }
    ).start()
    ledger = build_ledger(primary.url, blocks=3)

    base = cli(
        "backup",
        "create",
        "--base",
        "--db",
        primary.url,
        "--repo",
        str(repo),
        "--key-file",
        str(key_file),
        "--json",
    )
    assert base.exit_code == 0, base.output
    assert json.loads(base.stdout)["kind"] == "pg_base"
    add_blocks(ledger, 2, 4)  # height 5: before the target
    time.sleep(0.3)
    with psycopg.connect(primary.url) as conn:
        (target,) = conn.execute("SELECT now()").fetchone()  # type: ignore[misc]
    time.sleep(0.3)
    expected = verify_chain(ledger)
    add_blocks(ledger, 3, 4)  # height 8: after the target, must not come back
    assert verify_chain(ledger).height == 8
    ledger.close()
    with psycopg.connect(primary.url, autocommit=True) as conn:
        (segment,) = conn.execute("SELECT pg_walfile_name(pg_switch_wal())").fetchone()  # type: ignore[misc]
    _wait_archived(primary.url, segment)
    primary.stop()  # the disaster: the primary is gone

    restored = Cluster(path / "restored", path)
    clusters.append(restored)
    result = cli(
        "backup",
        "restore",
        "--repo",
        str(repo),
        "--key-file",
        str(key_file),
        "--datadir",
        str(restored.datadir),
        "--target-time",
        target.astimezone(UTC).isoformat(),
        "--v11ops-command",
        v11ops_command(),
    )
    assert result.exit_code == 0, result.output
    restored.start().wait_promoted()
    storage = open_storage(restored.url)
    try:
        chain = verify_chain(storage)
    finally:
        storage.close()
    assert chain.ok, chain.problem
    assert (chain.height, chain.tip_hash) == (5, expected.tip_hash)
    assert isinstance(target, datetime)
