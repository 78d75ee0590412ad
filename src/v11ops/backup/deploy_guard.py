"""Migration-aware deploys and rollbacks.

Each release declares the ledger schema versions it runs on (`releases.<v>.schema_versions`;
undeclared: any). A deploy of a release whose highest version is above the ledger's migrates the
ledger before the new release starts, after a backup (`backup.before_migrating_deploy`). There
are no down migrations, so a rollback to a release that cannot run on the current schema is
refused with an explanation; with `--restore-db` the controller stops the slots, restores the
newest backup whose schema the release runs on (the pre-deploy backup), reports the transactions
acknowledged since that backup (they are lost), verifies the chain, and deploys the release.

Migrations are expand-only, so the old release keeps serving on the migrated schema until the
switch. The pure decisions come first; the controller glue after them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from v11node.storage import StorageError, open_storage
from v11node.storage.migrations import BASE_VERSION, LATEST_VERSION, current_version, migrate
from v11ops.backup.errors import BackupError
from v11ops.backup.keys import require_key
from v11ops.backup.manifest import Entry, scan
from v11ops.backup.settings import resolve
from v11ops.backup.sources import backend_of, sqlite_path
from v11ops.deploy.controller import Controller, DeployRefused
from v11ops.deploy.journal import Journal, StepFailed

# -- decisions (pure) ------------------------------------------------------------------------------


class SchemaRefused(Exception):
    """The release cannot run on the ledger's schema; the message says why and what to do."""


@dataclass(frozen=True)
class SchemaPlan:
    current: int
    target: int

    @property
    def migrates(self) -> bool:
        return self.target > self.current


def _versions(supported: Sequence[int]) -> str:
    return ", ".join(str(v) for v in sorted(supported))


def plan_deploy(
    version: str, supported: Sequence[int] | None, current: int, latest: int = LATEST_VERSION
) -> SchemaPlan:
    """Where a deploy of `version` leaves the schema: the highest version it runs on."""
    if supported is None:
        return SchemaPlan(current, current)
    goal = max(supported)
    if goal > latest:
        raise SchemaRefused(
            f"release {version} needs ledger schema {goal}, but the node's migrations end at"
            f" {latest}"
        )
    if goal < current:
        raise SchemaRefused(
            f"release {version} runs on ledger schema {_versions(supported)}; the ledger is at"
            f" schema {current} and there are no down migrations. Deploy a release that runs on"
            f" schema {current}, or `v11ops rollback --to {version} --restore-db`"
        )
    return SchemaPlan(current, goal)


@dataclass(frozen=True)
class RestorePoint:
    """The backup a restore rollback would use."""

    backup_id: str
    created_at: datetime
    schema_version: int
    last_seq: int


@dataclass(frozen=True)
class RollbackCheck:
    target: str
    supported: tuple[int, ...] | None
    current: int
    restore_point: RestorePoint | None
    lost_transactions: int | None

    @property
    def allowed(self) -> bool:
        return self.supported is None or self.current in self.supported

    def explain(self) -> str:
        assert self.supported is not None
        why = (
            f"rollback to {self.target} refused: it runs on ledger schema"
            f" {_versions(self.supported)}, and the ledger is at schema {self.current} (a later"
            " deploy migrated it; there are no down migrations)."
        )
        p = self.restore_point
        if p is None:
            return (
                f"{why} No complete backup at schema {_versions(self.supported)} exists to"
                f" restore: deploy a release that runs on schema {self.current} instead."
            )
        return (
            f"{why} `--restore-db` would restore backup {p.backup_id} (taken"
            f" {p.created_at:%Y-%m-%d %H:%M:%S %Z}, schema {p.schema_version}) and lose the"
            f" {self.lost_transactions} transactions acknowledged since then."
        )


def restore_point(entries: Sequence[Entry], supported: Sequence[int]) -> RestorePoint | None:
    """The newest complete logical backup at a schema version the release runs on."""
    fitting = [
        e.manifest
        for e in entries
        if e.usable
        and e.manifest is not None
        and e.manifest.ledger is not None
        and e.manifest.kind == "logical"
        and e.manifest.ledger.schema_version in supported
    ]
    newest = max(fitting, key=lambda m: m.created_at, default=None)
    if newest is None or newest.ledger is None:
        return None
    ledger = newest.ledger
    return RestorePoint(newest.id, newest.created_at, ledger.schema_version, ledger.last_seq)


# -- the ledger ------------------------------------------------------------------------------------


def ledger_schema(url: str) -> int:
    """The ledger's schema version; BASE_VERSION for a ledger not created yet (the first node
    to start creates it there)."""
    if backend_of(url) == "sqlite" and not sqlite_path(url).exists():
        return BASE_VERSION
    storage = open_storage(url)
    try:
        return current_version(storage)
    finally:
        storage.close()


def transactions_after(url: str, seq: int) -> int:
    storage = open_storage(url)
    try:
        return storage.transactions_after(seq)
    finally:
        storage.close()


def _migrate(url: str, target: int) -> list[int]:
    storage = open_storage(url)
    try:
        return [m.version for m in migrate(storage, target).applied]
    finally:
        storage.close()


# -- deploys ---------------------------------------------------------------------------------------


def deploy_plan(ctl: Controller, version: str) -> SchemaPlan | None:
    """The schema plan of a deploy (None: the release declares nothing); DeployRefused when
    the release cannot run on the ledger, or its pre-deploy backup could not be taken."""
    release = ctl.config.releases.get(version)
    supported = release.schema_versions if release else None
    if supported is None:
        return None
    settings = resolve(ctl.config)
    try:
        plan = plan_deploy(version, supported, ledger_schema(settings.need_db()))
        if plan.migrates and ctl.config.backup.before_migrating_deploy and settings.encrypt:
            require_key(settings.key, "a deploy that migrates takes a backup first")
    except (SchemaRefused, StorageError, BackupError) as exc:
        raise DeployRefused(str(exc), status=409) from None
    return plan if plan.migrates else None


def with_migration(
    ctl: Controller, journal: Journal, plan: SchemaPlan | None, work: Coroutine[Any, Any, None]
) -> Coroutine[Any, Any, None]:
    """`work` (the deploy), preceded by the pre-deploy backup and the migration when it migrates."""
    if plan is None:
        return work
    return _migrate_then(ctl, journal, plan, work)


async def _migrate_then(
    ctl: Controller, journal: Journal, plan: SchemaPlan, work: Coroutine[Any, Any, None]
) -> None:
    from v11ops.backup.create import BackupRequest, create_backup

    s = resolve(ctl.config)
    url = s.need_db()
    dep = str(journal.deployment_id)
    try:
        if ctl.config.backup.before_migrating_deploy:
            async with journal.step("pre_deploy_backup") as out:
                request = BackupRequest(
                    db=url,
                    repo=s.repo,
                    key=s.key,
                    encrypt=s.encrypt,
                    level=s.level,
                    app=s.app,
                    reason="pre-deploy",
                    labels={"deployment": dep, "schema_before": str(plan.current)},
                )
                manifest = await asyncio.to_thread(create_backup, request)
                out.update(backup=manifest.id, size_bytes=manifest.size_bytes)
            journal.event("backed_up", f"backup {manifest.id} before migrating the ledger")
        async with journal.step("migrate", {"from": plan.current, "to": plan.target}) as out:
            out.update(applied=await asyncio.to_thread(_migrate, url, plan.target))
        journal.event("migrated", f"ledger schema {plan.current} -> {plan.target}")
    except Exception as exc:
        work.close()
        reason = f"before the deploy: {exc}"
        ctl.state.finish_deployment(journal.deployment_id, "failed", reason)
        journal.event("failed", reason)
        return
    await work


# -- rollbacks -------------------------------------------------------------------------------------


def _rollback_target(ctl: Controller, to: str | None) -> str | None:
    """The version `start_rollback` would go to: --to, the warm release, the last good one."""
    if to is not None:
        return to
    warm = ctl.slot_with_role("warm")
    inst = ctl.instance(warm.name) if warm is not None else None
    if warm is not None and warm.version and inst is not None and ctl.runtime.is_alive(inst):
        return warm.version
    live = ctl.slot_with_role("live")
    return ctl.state.last_good_release(exclude=live.version if live else None)


def check_rollback(ctl: Controller, target: str, supported: tuple[int, ...]) -> RollbackCheck:
    s = resolve(ctl.config)
    url = s.need_db()
    current = ledger_schema(url)
    if current in supported:
        return RollbackCheck(target, supported, current, None, None)
    point = restore_point(scan(s.repo, s.key), supported)
    lost = transactions_after(url, point.last_seq) if point else None
    return RollbackCheck(target, supported, current, point, lost)


def guard_rollback(ctl: Controller, to: str | None, restore_db: bool) -> int | None:
    """None when the rollback may go on as usual. A target that cannot run on the ledger's
    schema is refused (DeployRefused, nothing changed) unless `restore_db`: then the restore
    rollback starts and its deployment id is returned."""
    target = _rollback_target(ctl, to)
    release = ctl.config.releases.get(target) if target is not None else None
    if target is None or release is None or release.schema_versions is None:
        if restore_db:
            raise DeployRefused("--restore-db applies to a release that declares schema_versions")
        return None  # nothing to check; start_rollback explains an unknown target
    try:
        check = check_rollback(ctl, target, tuple(release.schema_versions))
    except (StorageError, BackupError) as exc:
        raise DeployRefused(
            f"rollback to {target}: cannot check the ledger schema: {exc}"
        ) from None
    if check.allowed:
        if restore_db:
            raise DeployRefused(
                f"--restore-db is not needed: {target} runs on the ledger's schema"
                f" {check.current}; roll back without it (no data is lost)"
            )
        return None
    if not restore_db or check.restore_point is None:
        raise DeployRefused(check.explain(), status=409)
    return _start_restore_rollback(ctl, check)


def _start_restore_rollback(ctl: Controller, check: RollbackCheck) -> int:
    from v11ops.deploy.bluegreen import BlueGreenRun

    assert check.restore_point is not None
    point = check.restore_point
    token = ctl.acquire_lock()
    live = ctl.slot_with_role("live")
    try:
        slot = ctl.pick_candidate_slot()
        release = ctl.resolve(check.target, slot)
        ctl.state.register_release(check.target, release.fingerprint())
    except Exception as exc:
        ctl.release_lock()
        raise DeployRefused(str(exc)) from None
    dep = ctl.state.create_deployment(
        check.target, live.version if live else None, "restore-db", "rollback", slot, None, token
    )
    journal = Journal(ctl.state, dep, token, ctl.notifier)
    journal.event(
        "data_loss",
        f"restoring backup {point.backup_id} (schema {point.schema_version}): the"
        f" {check.lost_transactions} transactions acknowledged since"
        f" {point.created_at:%Y-%m-%d %H:%M:%S %Z} will be lost",
        backup=point.backup_id,
        lost_transactions=check.lost_transactions,
    )

    async def restore_then_deploy() -> None:
        if await _restore(ctl, journal, point):
            await BlueGreenRun(ctl, journal, release, None).run()

    ctl._launch(restore_then_deploy(), token, dep)
    return dep


async def _restore(ctl: Controller, journal: Journal, point: RestorePoint) -> bool:
    from v11ops.backup.manifest import pick
    from v11ops.backup.restore import restore_ledger

    s = resolve(ctl.config)
    url = s.need_db()
    try:
        async with journal.step("stop_slots") as out:
            for name in list(ctl.state.slots()):
                out[name] = await ctl.stop_slot(name, drain=True)
        async with journal.step("restore_db", {"backup": point.backup_id}) as out:
            lost = await asyncio.to_thread(transactions_after, url, point.last_seq)
            entry = pick(scan(s.repo, s.key), point.backup_id)
            report = await asyncio.to_thread(restore_ledger, entry, s.key, url, True)
            out.update(lost_transactions=lost, **report.to_json())
            if not report.ok:
                raise StepFailed(f"restored ledger does not verify: {report.problem}")
        journal.event(
            "restored",
            f"ledger restored from {point.backup_id}; {lost} transactions"
            " acknowledged after it were lost",
            lost_transactions=lost,
        )
    except Exception as exc:
        reason = f"restore rollback failed: {exc}"
        ctl.state.finish_deployment(journal.deployment_id, "failed", reason)
        journal.event("failed", reason)
        return False
    return True
