"""The audit log's chain: an edited, removed or reordered entry is found and named."""

from __future__ import annotations

import itertools
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.stack import make_stack
from v11ops.security.audit import AuditLog, entries, verify
from v11ops.security.db import access_db_path

ENTRIES = 6


@pytest.fixture
def log_path(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "access.db"
    log = AuditLog(path)
    for n in range(1, ENTRIES + 1):
        log.append({"action": "deploy", "args": {"version": f"1.{n}.0"}, "status": 202})
    log.close()
    yield path


def tamper(path: Path, *statements: str) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    for sql in statements:
        conn.execute(sql)
    conn.close()


def test_an_untouched_log_verifies(log_path: Path) -> None:
    result = verify(log_path)
    assert result.ok and result.count == ENTRIES
    assert result.head == entries(log_path)[-1]["hash"]
    assert [e["seq"] for e in entries(log_path)] == list(range(1, ENTRIES + 1))


def test_each_entry_links_to_the_one_before(log_path: Path) -> None:
    log = entries(log_path)
    assert log[0]["prev"] == "0" * 64
    assert all(b["prev"] == a["hash"] for a, b in itertools.pairwise(log))


def test_an_edited_entry_is_named(log_path: Path) -> None:
    tamper(log_path, "UPDATE audit SET entry = replace(entry, '1.3.0', '6.6.6') WHERE seq = 3")
    result = verify(log_path)
    assert result.bad_seq == 3 and "entry 3 was edited" in str(result.problem)


def test_an_edit_with_a_recomputed_hash_breaks_the_next_link(log_path: Path) -> None:
    import hashlib
    import json

    from v11ops.security.audit import canonical

    row = sqlite3.connect(log_path).execute("SELECT entry FROM audit WHERE seq = 3").fetchone()
    document = json.loads(row[0]) | {"status": 500}
    forged = hashlib.sha256(canonical(document)).hexdigest()
    conn = sqlite3.connect(log_path, isolation_level=None)
    conn.execute("UPDATE audit SET entry = ?, hash = ? WHERE seq = 3",
                 (canonical(document).decode(), forged))  # fmt: skip
    conn.close()
    result = verify(log_path)
    assert result.bad_seq == 4 and "does not follow entry 3" in str(result.problem)


def test_a_removed_entry_is_named(log_path: Path) -> None:
    tamper(log_path, "DELETE FROM audit WHERE seq = 4")
    result = verify(log_path)
    assert result.bad_seq == 5 and "entry 4 was removed" in str(result.problem)


def test_removed_last_entries_are_named(log_path: Path) -> None:
    tamper(log_path, "DELETE FROM audit WHERE seq >= 5")
    result = verify(log_path)
    assert not result.ok and result.count == 4
    assert "entries 5-6 removed from the end" in str(result.problem)


def test_reordered_entries_are_named(log_path: Path) -> None:
    tamper(
        log_path,
        "UPDATE audit SET seq = -2 WHERE seq = 2",
        "UPDATE audit SET seq = 2 WHERE seq = 5",
        "UPDATE audit SET seq = 5 WHERE seq = -2",
    )
    result = verify(log_path)
    assert result.bad_seq == 2 and "entry 2 holds entry 5: entries were reordered" in str(
        result.problem
    )


def test_audit_verify_exits_1_naming_the_entry(tmp_path: Path) -> None:
    stack = make_stack(tmp_path / "stack")
    log = AuditLog(access_db_path(stack.root / "state"))
    for n in range(3):
        log.append({"action": "abort", "args": {}, "status": 200, "n": n})
    log.close()
    ok = stack.cli("audit", "verify")
    assert ok.returncode == 0 and "audit log intact: 3 entries" in ok.stdout
    tamper(access_db_path(stack.root / "state"), "DELETE FROM audit WHERE seq = 2")
    bad = stack.cli("audit", "verify")
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert bad.stderr.startswith("error:") and "entry 3 follows entry 1" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_audit_commands_without_a_log_and_with_a_bad_since(tmp_path: Path) -> None:
    stack = make_stack(tmp_path / "stack")
    missing = stack.cli("audit", "verify")
    assert missing.returncode == 1 and "no audit log at" in missing.stderr
    bad = stack.cli("audit", "show", "--since", "yesterday")
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1
    assert bad.stderr.startswith("error: --since: expected an ISO 8601 time")
