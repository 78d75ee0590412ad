"""ProcessRuntime: each instance is a child process group on this machine (the default)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import signal
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path

from v11ops.config import ResolvedRelease
from v11ops.runtime import _procfs as procfs
from v11ops.runtime._instance import AdoptResult, Instance, StopOutcome, StopResult
from v11ops.runtime._records import InstanceRecords

# Every instance carries this variable, `{state_dir}::{instance id}`. It lets adopt() find
# processes of this state dir that have no record (the controller died between the spawn
# and the record write, or the record was lost), including ones that left the process group.
MARKER_ENV = "V11OPS_INSTANCE"
# How long to wait for a process to go after SIGKILL (it may be in uninterruptible sleep).
_AFTER_KILL_S = 5.0


class InstanceStartError(RuntimeError):
    """An instance could not be started (missing executable, missing workdir, ...)."""


class ProcessRuntime:
    """Start, stop, adopt and reap child processes; records live in {state_dir}/instances/."""

    def __init__(self, state_dir: str | os.PathLike[str], *, poll_interval_s: float = 0.05) -> None:
        self.state_dir = Path(state_dir).resolve()
        self.logs_dir = self.state_dir / "logs"
        self.poll_interval_s = poll_interval_s
        self._records = InstanceRecords(self.state_dir / "instances")
        self._instances: dict[str, Instance] = {}
        self._children: dict[str, subprocess.Popen[bytes]] = {}
        self._stop_requested: set[str] = set()

    # -- queries -----------------------------------------------------------------------------

    def log_path(self, slot: str) -> Path:
        """The log file of a slot: every instance of the slot appends to it."""
        return self.logs_dir / f"{slot}.log"

    def instances(self) -> list[Instance]:
        """Instances started or adopted by this runtime and not stopped."""
        return list(self._instances.values())

    def is_alive(self, instance: Instance) -> bool:
        """True while the instance's leader process runs and is the one that was started."""
        child = self._children.get(instance.id)
        if child is not None:
            return child.poll() is None  # also reaps our own zombie
        return procfs.is_running(instance.pid, instance.start_time)

    def stop_requested(self, instance: Instance) -> bool:
        """True once stop() was called for it."""
        return instance.id in self._stop_requested

    # -- start -------------------------------------------------------------------------------

    async def start(self, slot: str, release: ResolvedRelease, port: int) -> Instance:
        """Start `release` as a new process group, output appended to logs/{slot}.log."""
        if not release.workdir.is_dir():
            raise InstanceStartError(
                f"cannot start {slot} (release {release.version}): "
                f"workdir {release.workdir} is not a directory"
            )
        instance_id = f"{slot}-{secrets.token_hex(4)}"
        log_path = self.log_path(slot)
        # fork/exec and a log header: quick enough to do on the event loop.
        child = self._spawn(slot, release, port, instance_id, log_path)
        # The child is not reaped before we poll it, so its /proc entry exists even if it
        # already exited.
        stat = procfs.read_stat(child.pid)
        instance = Instance(
            id=instance_id,
            slot=slot,
            version=release.version,
            pid=child.pid,
            pgid=child.pid,
            port=port,
            start_time=stat.start_time if stat else 0,
            fingerprint=release.fingerprint(),
            started_at=time.time(),
            log_path=str(log_path),
            host=release.host,
        )
        try:
            self._records.save(instance)
        except OSError as exc:
            # An instance we cannot record would be an orphan after a restart: do not keep it.
            self._signal_group(child.pid, signal.SIGKILL)
            child.wait()
            raise InstanceStartError(
                f"cannot record instance {instance_id} under {self.state_dir}: "
                f"{exc.strerror or exc}"
            ) from None
        self._children[instance_id] = child
        self._instances[instance_id] = instance
        return instance

    def _spawn(
        self, slot: str, release: ResolvedRelease, port: int, instance_id: str, log_path: Path
    ) -> subprocess.Popen[bytes]:
        self.logs_dir.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, **release.env, MARKER_ENV: f"{self.state_dir}::{instance_id}"}
        stamp = datetime.now(UTC).isoformat(timespec="seconds")
        header = json.dumps({
            "@timestamp": stamp, "log.level": "info", "log.logger": "v11ops.runtime",
            "message": f"starting slot {slot} release {release.version} on port {port}",
            "event.instance": instance_id, "event.argv": list(release.argv),
        }) + "\n"  # fmt: skip
        with open(log_path, "ab") as log:
            log.write(header.encode())
            log.flush()
            try:
                return subprocess.Popen(
                    release.argv,
                    cwd=release.workdir,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,  # own process group: stop() signals all of it
                )
            except OSError as exc:
                failed = {"log.level": "error", "message": f"v11ops could not start it: {exc}"}
                log.write((json.dumps(failed) + "\n").encode())
                raise InstanceStartError(
                    f"cannot start {slot} (release {release.version}): {release.argv[0]}: "
                    f"{exc.strerror or exc}"
                ) from None

    # -- stop --------------------------------------------------------------------------------

    async def stop(self, instance: Instance, drain_timeout_s: float) -> StopResult:
        """SIGTERM the process group, wait up to `drain_timeout_s` for all of it to exit, then
        SIGKILL. The record is removed afterwards."""
        self._stop_requested.add(instance.id)
        began = time.monotonic()
        if not self.is_alive(instance):
            outcome = StopOutcome.ALREADY_EXITED
            if procfs.group_members(instance.pgid):  # the leader died; its helpers did not
                self._signal_group(instance.pgid, signal.SIGKILL)
                await self._wait_gone(instance, _AFTER_KILL_S)
        else:
            self._signal_group(instance.pgid, signal.SIGTERM)
            if await self._wait_gone(instance, drain_timeout_s):
                outcome = StopOutcome.TERMINATED
            else:
                outcome = StopOutcome.KILLED
                self._signal_group(instance.pgid, signal.SIGKILL)
                await self._wait_gone(instance, _AFTER_KILL_S)
        child = self._children.pop(instance.id, None)
        exit_code = child.poll() if child is not None else None
        self._instances.pop(instance.id, None)
        self._records.remove(instance.id)
        return StopResult(outcome, exit_code, time.monotonic() - began)

    def _signal_group(self, pgid: int, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, sig)

    async def _wait_gone(self, instance: Instance, timeout_s: float) -> bool:
        """Poll until the leader and every other member of its group are gone."""
        deadline = time.monotonic() + timeout_s
        while True:
            if not self.is_alive(instance) and not procfs.group_members(instance.pgid):
                return True
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(self.poll_interval_s)

    # -- adopt -------------------------------------------------------------------------------

    async def adopt(self, orphan_grace_s: float = 5.0) -> AdoptResult:
        """Re-adopt recorded instances that still run (same pid and same start time), forget
        records of dead ones, and stop orphans: processes of this state dir without a record.

        Only the controller that owns the state dir (holds its lease) may call this: an
        instance another process is starting at this moment has no record yet and would be
        taken for an orphan."""
        result = AdoptResult()
        records, broken = self._records.load_all()
        for path in broken:
            path.unlink(missing_ok=True)  # its process, if any, is found as an orphan below
        for record in records:
            if record.id in self._instances:
                result.adopted.append(record)
            elif procfs.is_running(record.pid, record.start_time):
                self._instances[record.id] = record
                result.adopted.append(record)
            else:
                # Dead, or the pid now belongs to another process: never signal it.
                self._records.remove(record.id)
                result.forgotten.append(record)
        marked = procfs.processes_with_env(MARKER_ENV, f"{self.state_dir}::")
        orphans = [
            pid
            for pid, value in marked.items()
            if pid != os.getpid() and value.split("::", 1)[1] not in self._instances
        ]
        if orphans:
            await self._reap(orphans, orphan_grace_s)
            result.reaped.extend(orphans)
        return result

    async def _reap(self, pids: list[int], grace_s: float) -> None:
        starts = {pid: procfs.start_time(pid) for pid in pids}
        for pid in pids:
            self._signal_pid(pid, signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        while time.monotonic() < deadline:
            if not any(self._same_running(pid, starts[pid]) for pid in pids):
                return
            await asyncio.sleep(self.poll_interval_s)
        for pid in pids:
            if self._same_running(pid, starts[pid]):
                self._signal_pid(pid, signal.SIGKILL)

    @staticmethod
    def _same_running(pid: int, start: int | None) -> bool:
        return start is not None and procfs.is_running(pid, start)

    @staticmethod
    def _signal_pid(pid: int, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)
