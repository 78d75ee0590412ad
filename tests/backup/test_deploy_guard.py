"""Migration-aware deploys: a deploy that migrates backs up first; a rollback to a release that
cannot run on the migrated schema is refused (and changes nothing) unless --restore-db."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from tests.backup.conftest import rows
from tests.support.stack import Stack, make_stack
from v11node.ledger.accounts import dev_address, dev_signing_key
from v11node.ledger.transaction import make_transaction, to_json
from v11node.ledger.verify import verify_chain
from v11node.storage import open_storage
from v11node.storage.migrations import current_version
from v11ops.backup.deploy_guard import (
    RestorePoint,
    RollbackCheck,
    SchemaRefused,
    plan_deploy,
)
from v11ops.backup.manifest import scan
from v11ops.deploy.client import ControllerClient

# -- the decisions -----------------------------------------------------------------------------


def test_a_deploy_migrates_to_the_highest_version_the_release_runs_on() -> None:
    assert not plan_deploy("1.0.0", None, current=1).migrates, "undeclared: runs on any"
    assert not plan_deploy("1.0.0", [1], current=1).migrates
    plan = plan_deploy("1.1.0", [1, 2], current=1, latest=2)
    assert (plan.current, plan.target, plan.migrates) == (1, 2, True)
    assert not plan_deploy("1.1.0", [1, 2], current=2, latest=2).migrates
    with pytest.raises(SchemaRefused, match="no down migrations"):
        plan_deploy("1.0.0", [1], current=2, latest=2)
    with pytest.raises(SchemaRefused, match="migrations end at 2"):
        plan_deploy("3.0.0", [3], current=2, latest=2)


def test_a_refusal_explains_what_restore_db_would_cost() -> None:
    point = RestorePoint("20250101T000000000Z", datetime(2025, 1, 1, tzinfo=UTC), 1, 40)
    check = RollbackCheck("1.0.0", (1,), 2, point, lost_transactions=17)
    assert not check.allowed
    text = check.explain()
    assert "runs on ledger schema 1" in text and "is at schema 2" in text
    assert "--restore-db" in text and "20250101T000000000Z" in text and "lose the 17" in text
    assert "No complete backup" in RollbackCheck("1.0.0", (1,), 2, None, None).explain()
    assert RollbackCheck("1.1.0", (1, 2), 2, None, None).allowed


# -- through a real stack --------------------------------------------------------------------------


def _stack_with_schemas(root: Path) -> Stack:
    key = root.parent / "backup.key"
    key.write_text(os.urandom(32).hex())
    # A long scale-down delay: the warm 1.0.0 slot stays while the test looks at it.
    stack = make_stack(root, scale_down_s=300, top=f"backup:\n  key: file:{key}\n")
    text = stack.config.read_text()
    text = text.replace('"1.0.0": {}', '"1.0.0": {schema_versions: [1]}')
    text = text.replace('"1.1.0": {}', '"1.1.0": {schema_versions: [1, 2]}')
    stack.config.write_text(text)
    return stack


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    s = _stack_with_schemas(tmp_path / "stack")
    up = s.cli("up", "--version", "1.0.0")
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        yield s
    finally:
        s.cli("down", timeout=120)


def _submit(stack: Stack, first_nonce: int, count: int) -> list[bytes]:
    txs = [
        make_transaction(dev_signing_key(7), dev_address(8), 1, first_nonce + i)
        for i in range(count)
    ]
    body = {"transactions": [to_json(t) for t in txs]}
    r = httpx.post(f"{stack.url}/api/v11/transactions", json=body, timeout=10)
    assert r.status_code == 202, r.text
    return [t.hash for t in txs]


def _ledger(stack: Stack) -> str:
    return f"sqlite:///{stack.root / 'state' / 'ledger.db'}"


def _data(stack: Stack) -> dict[str, object]:
    """The ledger's data (not the lease and heartbeat rows the nodes rewrite every second)."""
    return {t: r for t, r in rows(_ledger(stack)).items() if t not in ("nodes", "producer_lease")}


def _schema(stack: Stack) -> int:
    storage = open_storage(_ledger(stack))
    try:
        return current_version(storage)
    finally:
        storage.close()


def _controller(stack: Stack) -> ControllerClient:
    return ControllerClient(stack.root / "state" / "controller.sock")


def _observed(stack: Stack) -> tuple[object, ...]:
    """Everything a refused rollback must leave as it was."""
    with _controller(stack) as c:
        slots, history = c.status()["slots"], c.history(50)
    return slots, history, _data(stack), stack.served_version()


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_migrating_deploy_then_refused_rollback_then_restore_db(stack: Stack) -> None:
    _submit(stack, 1, 5)
    assert _schema(stack) == 1
    with _controller(stack) as c:
        dep = c.deploy("1.1.0")
        stack.wait(lambda: c.deployment(dep)["status"] == "succeeded", timeout=120)
        steps = [s["name"] for s in c.deployment(dep)["steps"]]
    assert steps[:2] == ["pre_deploy_backup", "migrate"], steps
    assert _schema(stack) == 2
    [backup] = [e.manifest for e in scan(stack.root / "state" / "backups") if e.manifest]
    assert backup.reason == "pre-deploy" and backup.ledger and backup.ledger.schema_version == 1
    lost = _submit(stack, 100, 4)  # acknowledged after the pre-deploy backup
    stack.wait(lambda: all(
        httpx.get(f"{stack.url}/api/v11/transactions/{h.hex()}").json()["status"] == "CONFIRMED"
        for h in lost))  # fmt: skip

    before = _observed(stack)
    refused = stack.cli("rollback")  # to the warm 1.0.0, which runs on schema 1 only
    assert refused.returncode == 1, refused.stdout + refused.stderr
    message = " ".join(refused.stderr.split())
    assert "rollback to 1.0.0 refused" in message and "schema 2" in message
    assert "--restore-db" in message and f"would restore backup {backup.id}" in message
    assert "lose the 4 transactions" in message
    assert _observed(stack) == before, "a refused rollback changes nothing"
    assert len(scan(stack.root / "state" / "backups")) == 1

    restored = stack.cli("rollback", "--restore-db")
    assert restored.returncode == 0, restored.stdout + restored.stderr
    assert "data loss" in restored.stdout and "the 4 transactions" in restored.stdout
    assert stack.served_version() == "1.0.0"
    assert _schema(stack) == 1
    storage = open_storage(_ledger(stack))
    try:
        assert all(storage.get_transaction(h) is None for h in lost)
        assert verify_chain(storage).ok
    finally:
        storage.close()
