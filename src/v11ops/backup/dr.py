"""`v11ops dr drill`: the disaster-recovery runbook as a measured drill, in a temporary folder.

1. Start the demo stack (router, controller, node 1.0.0 on SQLite) and put signed-transaction
   load through the router.
2. Under that load, back up the ledger and v11ops' own files to a repository outside the state
   directory (the off-host copy).
3. Later, still under load: the disaster. SIGKILL the router, the controller and the node, and
   delete the whole state directory (ledger, its WAL, the controller's state, instance records).
4. Recover, in the seed runbook's order: restore the controller state and the ledger from the
   newest backup, verify the chain against the manifest, start the router, then the controller
   (which restarts the live release on the restored ledger), wait until the router serves ready,
   then run the smoke checks through it.

RTO: seconds from the loss to serving again (ready through the router). RPO: the transactions
the load saw acknowledged (202) that the restored ledger lacks, and the seconds between the
backup's snapshot and the loss.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from v11node.storage import open_storage
from v11ops.backup.create import BackupRequest, create_backup
from v11ops.backup.keys import BackupKey, parse_key
from v11ops.backup.manifest import pick, scan
from v11ops.backup.restore import restore_app, restore_ledger
from v11ops.backup.sources import AppSources
from v11ops.config import Config, load_config
from v11ops.deploy.client import ControllerClient, controller_socket
from v11ops.deploy.demo import write_demo_config
from v11ops.deploy.stack import ensure_controller, ensure_router, stop_controller, stop_router
from v11ops.deploy.state import TERMINAL
from v11ops.gates import smoke
from v11ops.load import LoadReport, LoadSpec, run_load

Say = Callable[[str], object]


@dataclass
class DrReport:
    backup_id: str = ""
    backup_s: float = 0.0
    snapshot_at: float = 0.0  # epoch seconds of the backup's snapshot
    loss_at: float = 0.0
    rto_s: float | None = None  # loss -> ready through the router
    restore_s: float = 0.0
    verify_s: float = 0.0
    start_s: float = 0.0  # router + controller + live node, to ready
    smoke_passed: bool = False
    smoke_summary: str = ""
    acknowledged: int = 0
    lost_transactions: int = 0
    rpo_s: float = 0.0  # snapshot -> loss
    height_backed_up: int = 0
    height_after: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_json(self) -> dict[str, object]:
        return {**self.__dict__, "ok": self.ok}


def run_dr_drill(
    workdir: Path | None = None,
    rate: float = 200,
    before_s: float = 4.0,
    between_s: float = 4.0,
    say: Say = print,
) -> DrReport:
    root = workdir or Path(tempfile.mkdtemp(prefix="v11ops-dr-"))
    config = _stack_config(root)
    try:
        return _drill(config, rate, before_s, between_s, say)
    finally:
        say("cleaning up: stopping the slots, the controller and the router")
        with contextlib.suppress(Exception):
            stop_controller(config, stop_slots=True)
        with contextlib.suppress(Exception):
            stop_router(config)
        if workdir is None:
            shutil.rmtree(root, ignore_errors=True)


def _stack_config(root: Path) -> Config:
    """The demo config plus a backup section: a key and a repository outside the state dir."""
    root.mkdir(parents=True, exist_ok=True)
    path = write_demo_config(root)
    key = root / "backup.key"
    key.write_text(os.urandom(32).hex() + "\n")
    key.chmod(0o600)
    with path.open("a") as f:
        f.write("\nbackup:\n  repo: offsite-backups\n  key: file:backup.key\n")
    return load_config(path)


def _drill(config: Config, rate: float, before_s: float, between_s: float, say: Say) -> DrReport:
    report = DrReport()
    url = f"http://{config.router.listen}"
    ledger = f"sqlite:///{config.state_path / 'ledger.db'}"
    repo = config.config_dir / "offsite-backups"
    key = parse_key((config.config_dir / "backup.key").read_text(), "backup.key")
    say(f"starting the stack in {config.state_path}")
    ensure_router(config)
    ensure_controller(config)
    version = config.versions[0]
    _deploy(config, version)
    spec = LoadSpec(
        target=url,
        rate=rate,
        duration_s=before_s + between_s + 1.0,
        batch=5,
        collect_hashes=True,
        timeout_s=2.0,
    )
    loads: list[LoadReport] = []
    loader = threading.Thread(target=lambda: loads.append(run_load(spec)), daemon=True)
    say(f"load: {rate:g} signed transactions/s through {url}")
    loader.start()
    time.sleep(before_s)
    say("backing up under load")
    began = time.perf_counter()
    manifest = create_backup(
        BackupRequest(
            db=ledger,
            repo=repo,
            key=key,
            app=AppSources(config.source or Path(), config.state_path),
            reason="dr-drill",
        )
    )
    report.backup_s = time.perf_counter() - began
    report.backup_id = manifest.id
    report.snapshot_at = manifest.created_at.timestamp()
    report.height_backed_up = manifest.ledger.height if manifest.ledger else 0
    time.sleep(between_s)
    say("disaster: killing the router, the controller and the node; deleting the state directory")
    report.loss_at = time.time()
    _lose_everything(config)
    _recover(config, repo, key, ledger, version, report, say)
    loader.join(timeout=60)
    acked = loads[0].hashes if loads else ()
    report.acknowledged = len(acked)
    report.lost_transactions, report.height_after = _missing(ledger, acked)
    report.rpo_s = report.loss_at - report.snapshot_at
    if not loads:
        report.problems.append("the load generator did not finish")
    return report


def _deploy(config: Config, version: str) -> None:
    with ControllerClient(controller_socket(config)) as client:
        dep = client.deploy(version)
        deadline = time.monotonic() + 60
        while (detail := client.deployment(dep))["status"] not in TERMINAL:
            if time.monotonic() > deadline:
                raise RuntimeError(f"deploying {version} took over 60 s")
            time.sleep(0.1)
    if detail["status"] != "succeeded":
        raise RuntimeError(f"deploying {version}: {detail['status']} ({detail['reason']})")


def _lose_everything(config: Config) -> None:
    """SIGKILL every process of the stack (their whole process groups) and delete the state."""
    with ControllerClient(controller_socket(config), timeout_s=5) as client:
        slots = client.status()["slots"]
    pids = [s["pid"] for s in slots.values() if s.get("pid")]
    for name in ("controller.pid", "router.pid"):
        with contextlib.suppress(OSError, ValueError):
            pids.append(int((config.state_path / name).read_text().strip()))
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)
    for pid in pids:
        _wait_gone(pid)
    shutil.rmtree(config.state_path)


def _wait_gone(pid: int, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as f:
                if f.read().split(")")[-1].split()[0] == "Z":
                    return
        except OSError:
            return
        time.sleep(0.02)


def _recover(
    config: Config,
    repo: Path,
    key: BackupKey,
    ledger: str,
    version: str,
    report: DrReport,
    say: Say,
) -> None:
    entry = pick(scan(repo, key), None, kind="logical")
    say(f"recovering from backup {entry.id}: controller state, then the ledger")
    config.state_path.mkdir(parents=True, exist_ok=True)
    restore_app(entry, key, None, config.state_path, force=True)
    # Hashes, merkle roots and balances; signatures as in `backup drill` (see drill.py).
    restored = restore_ledger(entry, key, ledger, True, signatures=False)
    report.restore_s, report.verify_s = restored.restore_s, restored.verify_s
    if not restored.ok:
        report.problems.append(f"the restored ledger does not verify: {restored.problem}")
        return
    say("starting the router, then the controller (it restarts the live release)")
    began = time.perf_counter()
    ensure_router(config)
    ensure_controller(config)
    url = f"http://{config.router.listen}"
    if not _wait_serving(url, version, timeout_s=60):
        report.problems.append("the stack did not serve again within 60 s")
        return
    report.start_s = time.perf_counter() - began
    report.rto_s = time.time() - report.loss_at
    say(f"serving again {report.rto_s:.1f}s after the loss; smoke checks through the router")
    result = asyncio.run(
        smoke(url, config.gates.smoke, version=version, config_dir=config.config_dir)
    )
    report.smoke_passed, report.smoke_summary = result.passed, result.summary()
    if not result.passed:
        report.problems.append(f"smoke checks failed: {result.summary()}")


def _wait_serving(url: str, version: str, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    with httpx.Client(timeout=1.0) as client:
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError, ValueError):
                ready = client.get(f"{url}/q/health/ready").status_code == 200
                if ready and client.get(f"{url}/api/v11/info").json().get("version") == version:
                    return True
            time.sleep(0.05)
    return False


def _missing(ledger: str, acked: tuple[str, ...]) -> tuple[int, int]:
    """(acknowledged transactions the restored ledger lacks, its height now)."""
    storage = open_storage(ledger)
    try:
        missing = sum(1 for h in acked if storage.get_transaction(bytes.fromhex(h)) is None)
        tip = storage.latest_block()
        return missing, tip.header.height if tip else -1
    finally:
        storage.close()
