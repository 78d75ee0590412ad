"""The deploy controller: runs one deployment at a time under the deploy lock, journals every
step before it acts, keeps the previous release warm for a fast rollback, and supervises the
instances of live slots. Crash recovery is in `reconcile.py`; the blue-green steps in
`bluegreen.py`."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time
from collections.abc import Awaitable
from typing import Any, TypeVar

import httpx
import structlog

from v11ops.config import STRATEGIES, Config, ConfigError, ResolvedRelease, load_config
from v11ops.deploy.alerts import AlertInbox
from v11ops.deploy.journal import Journal, StepFailed
from v11ops.deploy.state import TERMINAL, Deployment, LockHeld, SlotState, StateDB
from v11ops.deploy.traffic import Traffic
from v11ops.gates import GateResult
from v11ops.notify import Notifier
from v11ops.runtime import Instance, ProcessRuntime, Supervisor, free_port
from v11ops.runtime._procfs import read_stat

log = structlog.get_logger("v11ops.controller")

T = TypeVar("T")

LOCK_TTL_S = 15.0
LOCK_RENEW_S = 3.0


class DeployRefused(Exception):
    """The request cannot start a deployment (unknown release, lock held, nothing to roll back)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


class Controller:
    def __init__(self, config: Config, state: StateDB, runtime: ProcessRuntime, traffic: Traffic):
        self.config = config
        self.state = state
        self.runtime = runtime
        self.traffic = traffic
        self.holder = f"controller pid={os.getpid()} host={socket.gethostname()}"
        self.supervisor = Supervisor(runtime, on_event=self._runtime_event)
        self._task: asyncio.Task[None] | None = None
        self._current: int | None = None  # the deployment `_task` runs
        self._token: int | None = None
        self._promote = asyncio.Event()
        self._abort = asyncio.Event()
        self._scale_downs: dict[str, asyncio.Task[None]] = {}
        self.releases: dict[str, ResolvedRelease] = {}
        self.stop_slots_on_exit = False
        self._client: httpx.AsyncClient | None = None
        self.alerts = AlertInbox()  # what Alertmanager reports firing (deploy/alerts.py)
        # Deploy events to webhooks; reads self.config per event, so a reload applies.
        self.notifier = Notifier(lambda: self.config, state)

    # -- slots -----------------------------------------------------------------------------------
    def slot_with_role(self, role: str) -> SlotState | None:
        return next((s for s in self.state.slots().values() if s.role == role), None)

    def instance(self, slot: str) -> Instance | None:
        return next((i for i in self.runtime.instances() if i.slot == slot), None)

    def pick_candidate_slot(self) -> str:
        """The slot the new release goes to: never the live one; an idle one before a warm one."""
        slots = self.state.slots()
        free = [n for n in self.config.slots if slots.get(n) is None or slots[n].role == "idle"]
        if free:
            return free[0]
        warm = [n for n in self.config.slots if slots[n].role != "live"]
        if not warm:
            raise DeployRefused("no slot is free for the new release")
        return warm[0]

    def resolve(self, version: str, slot: str, port: int | None = None) -> ResolvedRelease:
        """The release for `slot`; `port` is the running instance's when re-resolving."""
        port = port or self.config.slot_port(slot) or free_port()
        try:
            release = self.config.release(version, slot=slot, port=port)
        except ConfigError as exc:
            raise DeployRefused(str(exc)) from None
        self.releases[slot] = release
        return release

    async def start_instance(self, slot: str, release: ResolvedRelease) -> Instance:
        existing = self.instance(slot)
        if existing is not None:
            await self.stop_slot(slot)
        return await self.runtime.start(slot, release, release.port)

    async def stop_slot(self, slot: str, *, drain: bool = False) -> dict[str, Any]:
        """Stop whatever runs in `slot` (router drain first when asked), and mark it idle."""
        self._cancel_scale_down(slot)
        out: dict[str, Any] = {}
        if drain:
            with contextlib.suppress(Exception):
                out["drain"] = await self.traffic.drain(slot, self.config.service.drain_timeout_s)
        self.supervisor.unwatch(slot)
        inst = self.instance(slot)
        if inst is not None:
            result = await self.runtime.stop(inst, self.config.service.drain_timeout_s)
            out["stop"] = {
                "outcome": str(result.outcome),
                "duration_s": round(result.duration_s, 3),
            }
        self.state.set_slot(slot, None, None, "idle")
        return out

    async def healthy(self, slot: str) -> bool:
        """The slot's own health check: its process is alive and it answers ready with 200."""
        inst = self.instance(slot)
        if inst is None or not self.runtime.is_alive(inst):
            return False
        url = inst.base_url + self.config.service.health.ready
        try:
            return (await self._http().get(url)).status_code == 200
        except httpx.HTTPError:
            return False

    def _http(self) -> httpx.AsyncClient:
        # One client for the controller's own checks: building one costs 50-120 ms (its TLS
        # context), which a fast rollback must not pay.
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=2.0)
        return self._client

    # -- the deploy lock -------------------------------------------------------------------------
    def acquire_lock(self, takeover: bool = False) -> int:
        """Take the deploy lock. `takeover` is for recovery at start: this process holds the
        state directory's flock, so any other holder is a controller that is gone."""
        try:
            token = self.state.acquire_lock(self.holder, LOCK_TTL_S)
        except LockHeld as exc:
            if takeover or _holder_is_dead(exc.holder):
                self.state.event(None, "lock_broken", f"broke the lock of dead {exc.holder}")
                self.state.release_lock(exc.holder, self.state.lock_info()["token"])
                token = self.state.acquire_lock(self.holder, LOCK_TTL_S)
            else:
                raise DeployRefused(str(exc), status=409) from None
        self._token = token
        return token

    async def _renew_lock(self, token: int) -> None:
        while True:
            await asyncio.sleep(LOCK_RENEW_S)
            if not self.state.renew_lock(self.holder, token, LOCK_TTL_S):
                log.error("lost the deploy lock", token=token)
                return

    def release_lock(self) -> None:
        if self._token is not None:
            self.state.release_lock(self.holder, self._token)
            self._token = None

    @property
    def busy(self) -> bool:
        return self._task is not None and not self._task.done()

    async def settle(self, timeout_s: float = 5.0) -> None:
        """Let a deployment whose outcome is already written finish its last steps (releasing
        the lock, a last event), so a deploy asked for right after it is not refused as busy."""
        if not self.busy or self._current is None:
            return
        current = self.state.deployment(self._current)
        if current is not None and current.status in TERMINAL and self._task is not None:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._task), timeout_s)

    # -- operations ------------------------------------------------------------------------------
    def reload_config(self) -> None:
        """Read v11ops.yaml again, so a release added to the file can be deployed at once.

        A file that no longer validates refuses the request and keeps the config in force.
        """
        if self.config.source is None:
            return
        try:
            self.config = load_config(self.config.source)
        except ConfigError as exc:
            raise DeployRefused(f"{exc} (the controller keeps the previous config)") from None

    def start_deploy(self, version: str, strategy: str | None = None) -> int:
        """Validate and begin a deploy in the background (the config's default strategy unless
        `strategy` names another); return its id."""
        from v11ops.backup.deploy_guard import deploy_plan, with_migration

        if self.busy:
            raise DeployRefused(self._busy_message(), status=409)
        self.reload_config()
        if version not in self.config.releases:
            known = ", ".join(self.config.versions)
            raise DeployRefused(f"unknown release {version!r} (known: {known})")
        strategy = strategy or self.config.strategy.default
        if strategy not in STRATEGIES:
            raise DeployRefused(f"unknown strategy {strategy!r} (known: {', '.join(STRATEGIES)})")
        if strategy == "rolling":
            return self._start_rolling(version)
        self._refuse_if_pool_runs()
        schema = deploy_plan(self, version)  # refuses a release that cannot run on the ledger
        token = self.acquire_lock()
        try:
            stable = self.slot_with_role("live")
            slot = self.pick_candidate_slot()
            release = self.resolve(version, slot)
            self.state.register_release(version, release.fingerprint())
        except Exception as exc:
            self.release_lock()
            raise DeployRefused(str(exc)) from None
        dep = self.state.create_deployment(
            version, stable.version if stable else None, strategy, "deploy", slot,
            stable.name if stable else None, token,
        )  # fmt: skip
        journal = Journal(self.state, dep, token, self.notifier)
        run = _run_class(strategy)(self, journal, release, stable)
        # A deploy that migrates the ledger schema backs it up and migrates it first.
        self._launch(with_migration(self, journal, schema, run.run()), token, dep)
        return dep

    def _start_rolling(self, version: str) -> int:
        from v11ops.backup.deploy_guard import deploy_plan, with_migration
        from v11ops.deploy.rolling import RollingRun

        schema = deploy_plan(self, version)  # refuses a release that cannot run on the ledger
        token = self.acquire_lock()
        try:
            live = [s for s in self.state.slots().values() if s.role == "live"]
            previous = live[0].version if live else None
            release = self.resolve(version, self.config.rolling_slot_names()[0])
            self.state.register_release(version, release.fingerprint())
        except Exception as exc:
            self.release_lock()
            raise DeployRefused(str(exc)) from None
        dep = self.state.create_deployment(
            version, previous, "rolling", "deploy", None, None, token
        )
        journal = Journal(self.state, dep, token, self.notifier)
        run = RollingRun(self, journal, version, live)
        self._launch(with_migration(self, journal, schema, run.run()), token, dep)
        return dep

    def _refuse_if_pool_runs(self) -> None:
        """Blue-green and canary move traffic between two slots; a rolling pool is N of them."""
        live = [s.name for s in self.state.slots().values() if s.role == "live"]
        if len(live) > 1:
            raise DeployRefused(
                f"{len(live)} instances are live ({', '.join(sorted(live))}) from a rolling "
                "deploy: deploy with --strategy rolling, or roll to one instance first"
            )

    def start_rollback(self, to: str | None, restore_db: bool = False) -> int:
        """Fast path to the warm previous release, else a normal deploy of the last good one.
        A release that cannot run on the ledger's schema is refused unless `restore_db`."""
        from v11ops.backup.deploy_guard import guard_rollback
        from v11ops.deploy.bluegreen import fast_rollback

        if self.busy:
            raise DeployRefused(self._busy_message(), status=409)
        self.reload_config()
        restoring = guard_rollback(self, to, restore_db)  # schema check; --restore-db path
        if restoring is not None:
            return restoring
        warm = self.slot_with_role("warm")
        live = self.slot_with_role("live")
        warm_instance = self.instance(warm.name) if warm is not None else None
        warm_running = warm_instance is not None and self.runtime.is_alive(warm_instance)
        if warm is not None and warm.version and warm_running and to in (None, warm.version):
            token = self.acquire_lock()
            dep = self.state.create_deployment(
                warm.version, live.version if live else None, "fast-rollback", "rollback",
                warm.name, live.name if live else None, token,
            )  # fmt: skip
            journal = Journal(self.state, dep, token, self.notifier)
            self._launch(fast_rollback(self, journal, warm, live, manual=True), token, dep)
            return dep
        target = to or self.state.last_good_release(exclude=live.version if live else None)
        if target is None:
            raise DeployRefused("nothing to roll back to: no warm slot and no earlier good release")
        return self.start_deploy(target)

    def promote(self) -> None:
        if not self.busy:
            raise DeployRefused("no deployment is waiting for promote", status=409)
        self._promote.set()

    def abort(self) -> None:
        if not self.busy:
            raise DeployRefused("no deployment is running", status=409)
        self._abort.set()
        self._promote.set()

    def _launch(self, work: Any, token: int, dep: int) -> None:
        self._promote.clear()
        self._abort.clear()
        self._current = dep

        async def runner() -> None:
            renew = asyncio.create_task(self._renew_lock(token))
            try:
                await work
            except Exception as exc:
                # A bug, not a gate: never leave the deployment "running" for ever.
                log.exception("deployment crashed", deployment=dep)
                current = self.state.deployment(dep)
                if current is not None and current.status not in TERMINAL:
                    self.state.finish_deployment(dep, "failed", f"internal error: {exc!r}")
            finally:
                renew.cancel()
                self.release_lock()

        self._task = asyncio.create_task(runner())

    async def abortable(self, work: Awaitable[T]) -> T:
        """Run a gate, but stop it as soon as `v11ops abort` is asked for."""
        task = asyncio.ensure_future(work)
        aborted = asyncio.ensure_future(self._abort.wait())
        await asyncio.wait({task, aborted}, return_when=asyncio.FIRST_COMPLETED)
        aborted.cancel()
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            raise StepFailed("aborted by the operator")
        return task.result()

    async def wait_idle(self) -> None:
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def _busy_message(self) -> str:
        info = self.state.lock_info()
        since = time.time() - (info["since"] or time.time())
        return f"another deploy is in progress: lock held by {info['holder']} for {since:.0f}s"

    # -- after a successful switch ---------------------------------------------------------------
    def schedule_scale_down(self, slot: str, delay_s: float) -> None:
        """Keep `slot` warm for `delay_s` (instant rollback), then drain and stop it."""
        self._cancel_scale_down(slot)

        async def later() -> None:
            await asyncio.sleep(delay_s)
            await self.wait_idle()  # never pull a slot from under a running deployment
            current = self.state.slots().get(slot)
            if current is not None and current.role == "warm":
                # No longer a rollback target from here on: it is about to drain and stop.
                self.state.set_slot(slot, current.version, current.port, "retiring")
                detail = await self.stop_slot(slot, drain=True)
                self.state.event(None, "scaled_down", f"stopped warm slot {slot}", **detail)

        self._scale_downs[slot] = asyncio.create_task(later())

    def _cancel_scale_down(self, slot: str) -> None:
        task = self._scale_downs.pop(slot, None)
        if task is not None and task is not asyncio.current_task():
            task.cancel()

    # -- status ----------------------------------------------------------------------------------
    def record_gate(self, journal: Journal, result: GateResult) -> None:
        evidence = [e.to_dict() for e in result.evidence]
        self.state.verdict(journal.deployment_id, result.name, result.passed, result.duration_s,
                           evidence)  # fmt: skip
        if not result.passed:
            raise StepFailed(result.summary())

    async def status(self) -> dict[str, Any]:
        slots = {}
        for name, s in self.state.slots().items():
            inst = self.instance(name)
            slots[name] = {
                "version": s.version,
                "role": s.role,
                "port": s.port,
                "pid": inst.pid if inst else None,
                "alive": bool(inst and self.runtime.is_alive(inst)),
                "restarts": self.supervisor.restarts(name),
            }
        try:
            routes = (await self.traffic.routes()).to_json()
        except Exception as exc:
            routes = {"error": str(exc)}
        recent = self.state.deployments(1)
        return {
            "service": self.config.service.name,
            "router": {"listen": self.config.router.listen, "routes": routes},
            "slots": slots,
            "deploying": self.busy,
            "lock": self.state.lock_info(),
            "last_deployment": recent[0].to_json() if recent else None,
        }

    def explain(self, dep: Deployment) -> dict[str, Any]:
        return {
            **dep.to_json(),
            "steps": self.state.steps(dep.id),
            "events": self.state.events(dep.id),
            "verdicts": self.state.verdicts(dep.id),
        }

    def supervise(self, slot: str) -> None:
        """Restart the slot's instance if it dies (self-healing); for live and warm slots."""
        st = self.state.slots().get(slot)
        inst = self.instance(slot)
        if st is None or st.version is None or inst is None:
            return
        release = self.releases.get(slot)
        if release is None or release.version != st.version:
            release = self.resolve(st.version, slot, inst.port)
        self.supervisor.watch(inst, release)

    def _runtime_event(self, kind: str, /, **fields: object) -> None:
        self.state.event(None, kind, f"{kind}: slot {fields.get('slot')}", **fields)


def _run_class(strategy: str) -> Any:
    from v11ops.deploy.bluegreen import BlueGreenRun
    from v11ops.deploy.canary import CanaryRun

    return CanaryRun if strategy == "canary" else BlueGreenRun


def _holder_is_dead(holder: str) -> bool:
    """True for a lock held by a controller process on this host that no longer exists."""
    parts = dict(p.split("=", 1) for p in holder.split()[1:] if "=" in p)
    if parts.get("host") != socket.gethostname() or not parts.get("pid", "").isdigit():
        return False
    stat = read_stat(int(parts["pid"]))
    return stat is None or not stat.running  # gone, or a zombie nobody reaped
