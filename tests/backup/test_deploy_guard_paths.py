"""The schema guard's refusals and failure paths against a controller built in this process
(no slots started): what is refused, with which reason, and that nothing changes.
test_deploy_guard.py runs the successful paths through a real stack."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.backup.conftest import claim_height
from tests.backup.ledger import build_ledger
from v11node.storage import open_storage
from v11node.storage.migrations import current_version, migrate
from v11ops.backup.create import BackupRequest, create_backup
from v11ops.backup.deploy_guard import (
    RestorePoint,
    SchemaPlan,
    _restore,
    deploy_plan,
    guard_rollback,
    restore_point,
    with_migration,
)
from v11ops.backup.keys import load_key
from v11ops.backup.manifest import scan
from v11ops.config import load_config
from v11ops.deploy.controller import Controller, DeployRefused
from v11ops.deploy.journal import Journal
from v11ops.deploy.routers import router_backend
from v11ops.deploy.state import StateDB
from v11ops.deploy.traffic import Traffic
from v11ops.runtime import ProcessRuntime

pytestmark = pytest.mark.timeout(120)

RELEASES = {
    "0.9.0": {},  # declares nothing: runs on any schema
    "1.0.0": {"schema_versions": [1]},
    "1.1.0": {"schema_versions": [1, 2]},
    "9.0.0": {"schema_versions": [9]},
}


def _controller(root: Path, backup: dict[str, object]) -> Controller:
    path = root / "v11ops.yaml"
    path.write_text(yaml.safe_dump({
        "service": {"name": "svc", "command": ["true"]},
        "releases": RELEASES,
        "backup": backup,
    }))  # fmt: skip
    config = load_config(path)
    state = StateDB(config.state_path / "state.db")
    return Controller(
        config, state, ProcessRuntime(config.state_path), Traffic(router_backend(config))
    )


@pytest.fixture
def made(tmp_path: Path) -> Iterator[list[Controller]]:
    controllers: list[Controller] = []
    yield controllers
    for ctl in controllers:
        ctl.traffic.close()
        ctl.state.close()


def _ledger_url(ctl: Controller) -> str:
    return f"sqlite:///{ctl.config.state_path / 'ledger.db'}"


def _key_file(tmp_path: Path) -> Path:
    path = tmp_path / "backup.key"
    path.write_text(os.urandom(32).hex())
    return path


def _schema(url: str) -> int:
    storage = open_storage(url)
    try:
        return current_version(storage)
    finally:
        storage.close()


def _migrate_to_2(url: str) -> None:
    storage = open_storage(url)
    try:
        migrate(storage, 2)
    finally:
        storage.close()


def _deployment(ctl: Controller) -> Journal:
    token = ctl.state.acquire_lock("test", 60)
    dep = ctl.state.create_deployment("1.1.0", "1.0.0", "blue-green", "deploy", "green", "blue",
                                      token)  # fmt: skip
    return Journal(ctl.state, dep, token)


def test_deploy_plans_refuse_unknown_schemas_and_a_migration_without_a_key(
    tmp_path: Path, made: list[Controller]
) -> None:
    ctl = _controller(tmp_path, {})
    made.append(ctl)
    assert deploy_plan(ctl, "0.9.0") is None, "undeclared: nothing to check"
    with pytest.raises(DeployRefused, match="needs ledger schema 9") as refused:
        deploy_plan(ctl, "9.0.0")
    assert refused.value.status == 409
    with pytest.raises(DeployRefused, match="a deploy that migrates takes a backup first"):
        deploy_plan(ctl, "1.1.0")  # encryption on, no key: refused before anything runs
    assert not (ctl.config.state_path / "ledger.db").exists()
    assert deploy_plan(ctl, "1.0.0") is None, "runs on the base schema: no migration"


def test_a_migration_that_fails_fails_the_deploy_before_it_starts(
    tmp_path: Path, made: list[Controller]
) -> None:
    ctl = _controller(tmp_path, {"before_migrating_deploy": False})
    made.append(ctl)
    ctl.config.state_path.mkdir(parents=True, exist_ok=True)
    (ctl.config.state_path / "ledger.db").write_bytes(b"not a database " * 100)
    journal = _deployment(ctl)
    ran: list[str] = []

    async def deploy() -> None:
        ran.append("deploy")

    asyncio.run(with_migration(ctl, journal, SchemaPlan(1, 2), deploy()))
    assert ran == [], "the deploy never starts"
    dep = ctl.state.deployment(journal.deployment_id)
    assert dep is not None and dep.status == "failed"
    assert dep.reason is not None and dep.reason.startswith("before the deploy:")
    assert [s["name"] for s in ctl.state.steps(journal.deployment_id)] == ["migrate"]


def test_without_the_pre_deploy_backup_a_migration_runs_then_the_deploy(
    tmp_path: Path, made: list[Controller]
) -> None:
    ctl = _controller(tmp_path, {"before_migrating_deploy": False})
    made.append(ctl)
    build_ledger(_ledger_url(ctl)).close()
    journal = _deployment(ctl)
    ran: list[str] = []

    async def deploy() -> None:
        ran.append("deploy")

    asyncio.run(with_migration(ctl, journal, deploy_plan(ctl, "1.1.0"), deploy()))
    assert ran == ["deploy"] and _schema(_ledger_url(ctl)) == 2
    assert [s["name"] for s in ctl.state.steps(journal.deployment_id)] == ["migrate"]
    assert not (ctl.config.state_path / "backups").exists(), "no backup was asked for"


def test_rollback_refusals_say_why_and_change_nothing(
    tmp_path: Path, made: list[Controller]
) -> None:
    ctl = _controller(tmp_path, {"key": f"file:{_key_file(tmp_path)}"})
    made.append(ctl)
    url = _ledger_url(ctl)
    build_ledger(url).close()
    # Nothing to roll back to: no warm slot, no earlier good release.
    assert guard_rollback(ctl, None, restore_db=False) is None
    with pytest.raises(DeployRefused, match="--restore-db applies to a release that declares"):
        guard_rollback(ctl, None, restore_db=True)
    # 1.1.0 runs on schema 1: a plain rollback, and --restore-db would lose data for nothing.
    assert guard_rollback(ctl, "1.1.0", restore_db=False) is None
    with pytest.raises(DeployRefused, match="--restore-db is not needed"):
        guard_rollback(ctl, "1.1.0", restore_db=True)

    _migrate_to_2(url)
    with pytest.raises(DeployRefused, match="No complete backup at schema 1") as refused:
        guard_rollback(ctl, "1.0.0", restore_db=True)
    assert refused.value.status == 409
    assert ctl.state.deployments() == [] and _schema(url) == 2

    (ctl.config.state_path / "ledger.db").write_bytes(b"not a database " * 100)
    with pytest.raises(DeployRefused, match=r"rollback to 1\.0\.0: cannot check the ledger schema"):
        guard_rollback(ctl, "1.0.0", restore_db=False)


def test_the_restore_point_is_the_newest_logical_backup_at_a_fitting_schema(
    tmp_path: Path, key_file: Path
) -> None:
    repo, url = tmp_path / "repo", f"sqlite:///{tmp_path / 'ledger.db'}"
    build_ledger(url).close()
    key = load_key(key_file)
    at_1 = create_backup(BackupRequest(db=url, repo=repo, key=key))
    _migrate_to_2(url)
    at_2 = create_backup(BackupRequest(db=url, repo=repo, key=key))
    entries = scan(repo, key)
    point = restore_point(entries, [1])
    assert point is not None and point.backup_id == at_1.id and point.schema_version == 1
    assert restore_point(entries, [1, 2]).backup_id == at_2.id  # type: ignore[union-attr]
    assert restore_point(entries, [3]) is None


def test_a_restore_rollback_that_cannot_restore_fails_its_deployment(
    tmp_path: Path, made: list[Controller]
) -> None:
    key_file = _key_file(tmp_path)
    ctl = _controller(tmp_path, {"key": f"file:{key_file}"})
    made.append(ctl)
    url = _ledger_url(ctl)
    build_ledger(url).close()
    key = load_key(key_file)
    repo = ctl.config.state_path / "backups"
    backup = create_backup(BackupRequest(db=url, repo=repo, key=key))

    claim_height(repo, backup.id, key, 99)
    assert backup.ledger is not None
    point = RestorePoint(backup.id, backup.created_at, 1, backup.ledger.last_seq)
    for attempt, why in ((point, "does not verify"), (RestorePoint("nope", backup.created_at, 1, 0),
                                                      "no backup 'nope'")):  # fmt: skip
        journal = _deployment(ctl)
        assert asyncio.run(_restore(ctl, journal, attempt)) is False
        dep = ctl.state.deployment(journal.deployment_id)
        assert dep is not None and dep.status == "failed"
        assert dep.reason is not None and dep.reason.startswith("restore rollback failed")
        assert why in dep.reason
        ctl.state.release_lock("test", journal.token)


def _rollback_ready(tmp_path: Path, made: list[Controller], **release: object) -> Controller:
    """A ledger migrated to schema 2 after a backup at schema 1; 1.0.0 runs on schema 1 only."""
    key_file = _key_file(tmp_path)
    ctl = _controller(tmp_path, {"key": f"file:{key_file}"})
    if release:
        text = ctl.config.source.read_text()  # type: ignore[union-attr]
        data = yaml.safe_load(text)
        data["releases"]["1.0.0"].update(release)
        ctl.config.source.write_text(yaml.safe_dump(data))  # type: ignore[union-attr]
        ctl.reload_config()
    made.append(ctl)
    url = _ledger_url(ctl)
    build_ledger(url).close()
    create_backup(BackupRequest(db=url, repo=ctl.config.state_path / "backups",
                                key=load_key(key_file)))  # fmt: skip
    _migrate_to_2(url)
    return ctl


def test_a_restore_rollback_restores_the_backup_and_journals_the_loss(
    tmp_path: Path, made: list[Controller]
) -> None:
    ctl = _rollback_ready(tmp_path, made)
    [entry] = scan(ctl.config.state_path / "backups", None)
    assert entry.manifest is not None and entry.manifest.ledger is not None
    point = RestorePoint(entry.id, entry.manifest.created_at, 1, entry.manifest.ledger.last_seq)
    journal = _deployment(ctl)
    assert asyncio.run(_restore(ctl, journal, point)) is True
    assert _schema(_ledger_url(ctl)) == 1
    steps = ctl.state.steps(journal.deployment_id)
    assert [(s["name"], s["status"]) for s in steps] == [("stop_slots", "done"),
                                                         ("restore_db", "done")]  # fmt: skip
    assert steps[1]["detail"]["lost_transactions"] == 0
    restored = [e for e in ctl.state.events(journal.deployment_id) if e["kind"] == "restored"]
    assert restored and restored[0]["data"] == {"lost_transactions": 0}


def test_a_restore_rollback_whose_backup_is_damaged_fails_and_deploys_nothing(
    tmp_path: Path, made: list[Controller]
) -> None:
    ctl = _rollback_ready(tmp_path, made)
    [entry] = scan(ctl.config.state_path / "backups", None)
    stored = entry.folder / entry.manifest.files[0].name  # type: ignore[union-attr]
    raw = bytearray(stored.read_bytes())
    raw[len(raw) // 2] ^= 1
    stored.write_bytes(raw)

    async def rollback() -> int:
        dep = guard_rollback(ctl, "1.0.0", restore_db=True)
        assert dep is not None
        await ctl.wait_idle()
        return dep

    dep = asyncio.run(rollback())
    deployment = ctl.state.deployment(dep)
    assert deployment is not None and deployment.status == "failed"
    assert deployment.reason is not None and "restore rollback failed" in deployment.reason
    kinds = [e["kind"] for e in ctl.state.events(dep)]
    assert "data_loss" in kinds and "restored" not in kinds
    assert [s["name"] for s in ctl.state.steps(dep)] == ["stop_slots", "restore_db"]
    assert _schema(_ledger_url(ctl)) == 2, "the damaged backup was not written"
    assert ctl.state.lock_info()["holder"] is None, "the lock is released"


def test_a_restore_rollback_whose_release_cannot_be_resolved_is_refused(
    tmp_path: Path, made: list[Controller]
) -> None:
    secret = tmp_path / "token.txt"
    secret.write_text("s3cret")
    ctl = _rollback_ready(tmp_path, made, env={"TOKEN": f"file:{secret}"})
    secret.unlink()  # the release's secret is gone when the rollback resolves it
    with pytest.raises(DeployRefused, match=r"token\.txt"):
        guard_rollback(ctl, "1.0.0", restore_db=True)
    assert ctl.state.deployments() == [] and _schema(_ledger_url(ctl)) == 2
    assert ctl.state.lock_info()["holder"] is None
