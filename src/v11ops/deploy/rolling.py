"""Rolling: replace the N live instances of the service in batches, as Kubernetes does.

At every moment at most `instances + max_surge` instances run, and at least
`max(1, instances - max_unavailable)` ready ones stay in the router: no batch ever takes the last
ready instance out (when the settings would, the run surges by one instead and says so). A new
instance gets traffic only after its readiness and smoke gates; each batch is then watched with
the router's counters for `batch_window_s`. A failure rolls the pool back to the old release:
the new instances leave the router and stop, and old ones are started again until the pool is
whole. The node's block producer is a lease in the shared database, so however many instances
run, at most one produces blocks; an instance that stops hands the lease back.

Instances are slots named `pool-1`, `pool-2`, ... on free ports (`Config.rolling_slot_names`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

from v11ops.config import ResolvedRelease, Rolling
from v11ops.deploy.alerts import window_alert_check
from v11ops.deploy.controller import Controller
from v11ops.deploy.journal import Journal, StepFailed
from v11ops.deploy.state import SlotState
from v11ops.deploy.window import post_switch_window
from v11ops.gates import readiness, smoke
from v11ops.router.table import Target


@dataclass(frozen=True)
class Member:
    """One instance of the pool: its slot, version and address."""

    slot: str
    version: str
    url: str
    port: int


class RollingRun:
    def __init__(
        self, ctl: Controller, journal: Journal, version: str, live: list[SlotState]
    ) -> None:
        self.ctl = ctl
        self.j = journal
        self.version = version
        self.old = [self._member(s) for s in live if s.version is not None]
        self.previous = self.old[0].version if self.old else None
        self.new: list[Member] = []

    @property
    def policy(self) -> Rolling:
        return self.ctl.config.strategy.rolling

    @property
    def floor(self) -> int:
        """Ready instances that must stay in the router: never fewer than one."""
        return max(1, self.policy.instances - self.policy.max_unavailable)

    async def run(self) -> None:
        p = self.policy
        self.j.event("started", f"rolling {self.version} over {p.instances} instances",
                     old=[m.slot for m in self.old], max_surge=p.max_surge,
                     max_unavailable=p.max_unavailable)  # fmt: skip
        try:
            await self._roll()
        except StepFailed as exc:
            await self._roll_back(str(exc))
            return
        for m in self.new:
            self.ctl.supervise(m.slot)
        self.ctl.state.mark_good(self.version)
        self.ctl.state.finish_deployment(self.j.deployment_id, "succeeded", None)
        self.j.event("succeeded", f"{self.version} runs on {len(self.new)} instances")

    async def _roll(self) -> None:
        p = self.policy
        while len(self.new) < p.instances or self.old:
            if self.ctl._abort.is_set():
                raise StepFailed("aborted by the operator")
            stop = self._to_stop()
            start = self._to_start()
            if stop:
                await self._retire(self.old[:stop], self.old[stop:])
            elif start:
                await self._batch(start)
            elif len(self.new) >= p.instances:
                await self._retire(self.old, [])
            else:
                self.j.event("surge_by_one", "max_unavailable would take the last ready "
                             "instance out: starting one more instance first")  # fmt: skip
                await self._batch(1)

    def _to_start(self) -> int:
        p = self.policy
        room = p.instances + p.max_surge - len(self.old) - len(self.new)
        return max(0, min(room, p.instances - len(self.new)))

    def _to_stop(self) -> int:
        if not self.old:
            return 0
        if len(self.new) >= self.policy.instances:
            return len(self.old)
        spare = len(self.old) + len(self.new) - self.floor
        return max(0, min(spare, len(self.old)))

    # -- one batch -------------------------------------------------------------------------------

    async def _batch(self, count: int) -> None:
        """Start `count` new instances, gate them, give them traffic, watch them."""
        slots = self._free_slots(count)
        releases = [self.ctl.resolve(self.version, slot) for slot in slots]
        async with self.j.step("batch_start", {"slots": slots}) as out:
            members = await asyncio.gather(*(self._start(r) for r in releases))
            out.update(instances={m.slot: m.url for m in members})
        self.new += members
        async with self.j.step("batch_gates", {"slots": slots}):
            for release in releases:
                await self._gate(release)
        async with self.j.step("batch_traffic", {"slots": slots}) as out:
            baseline = await self.ctl.traffic.snapshot()
            result = await self._publish()
            out.update(revision=result)
            for m in members:
                self.ctl.state.set_slot(m.slot, m.version, m.port, "live")
        self.j.event("step", f"{len(self.new)} of {self.policy.instances} instances run "
                     f"{self.version}", slots=slots)  # fmt: skip
        if self.policy.batch_window_s > 0:
            async with self.j.step("batch_window", {"slots": slots}):
                results = await asyncio.gather(*(
                    post_switch_window(
                        slot=m.slot, ready_url=m.url + self.ctl.config.service.health.ready,
                        is_alive=self._alive(m.slot), traffic=self.ctl.traffic,
                        baseline=baseline, policy=self.policy,
                        length_s=self.policy.batch_window_s,
                        alerts=window_alert_check(self.ctl, self.j.deployment_id, m.slot,
                                                  m.version),
                    )
                    for m in members
                ))  # fmt: skip
                for gate in results:
                    self.ctl.record_gate(self.j, gate)

    async def _start(self, release: ResolvedRelease) -> Member:
        self.ctl.state.set_slot(release.slot, release.version, release.port, "candidate")
        try:
            inst = await self.ctl.start_instance(release.slot, release)
        except Exception as exc:
            raise StepFailed(
                f"could not start {release.version} in {release.slot}: {exc}"
            ) from None
        return Member(release.slot, release.version, inst.base_url, release.port)

    async def _gate(self, rel: ResolvedRelease) -> None:
        ctl = self.ctl
        r = ctl.config.strategy.blue_green.readiness  # one readiness policy for every strategy
        ctl.record_gate(self.j, await ctl.abortable(readiness(
            rel.base_url, rel.ready_path, consecutive_passes=r.consecutive_passes,
            interval_s=r.interval_s, deadline_s=ctl.config.readiness_deadline_s,
            is_alive=self._alive(rel.slot),
        )))  # fmt: skip
        ctl.record_gate(self.j, await ctl.abortable(smoke(
            rel.base_url, ctl.config.gates.smoke, version=rel.version,
            config_dir=ctl.config.config_dir,
        )))  # fmt: skip

    async def _retire(self, leaving: list[Member], staying: list[Member]) -> None:
        """Take `leaving` out of the router first, then drain and stop them."""
        async with self.j.step("retire", {"slots": [m.slot for m in leaving]}) as out:
            self.old = staying
            out.update(revision=await self._publish())
            for m in leaving:
                self.ctl.state.set_slot(m.slot, m.version, m.port, "retiring")
            stopped = await asyncio.gather(
                *(self.ctl.stop_slot(m.slot, drain=True) for m in leaving)
            )
            out.update(stopped=dict(zip((m.slot for m in leaving), stopped, strict=True)))

    async def _publish(self) -> int:
        """The router table: every old and new instance in the pool, equal weights."""
        targets = [Target(m.slot, m.url, 100, m.version) for m in self.old + self.new]
        return (await self.ctl.traffic.set_targets(targets)).revision

    # -- rollback --------------------------------------------------------------------------------

    async def _roll_back(self, reason: str) -> None:
        """New instances out of the router and stopped; the old release back to N instances."""
        ctl = self.ctl
        self.j.event("rolling_back", f"rolling back: {reason}", new=[m.slot for m in self.new])
        leaving, self.new = self.new, []
        async with self.j.step("rollback_retire", {"slots": [m.slot for m in leaving]}) as out:
            if self.old:
                out.update(revision=await self._publish())
            for m in leaving:
                await ctl.stop_slot(m.slot, drain=bool(self.old))
        status = "aborted" if ctl._abort.is_set() else "rolled_back"
        if self.previous is not None:
            try:
                await self._refill(self.previous)
            except StepFailed as exc:
                reason = f"{reason}; refilling the pool with {self.previous} failed: {exc}"
                status = "failed"
        ctl.state.finish_deployment(self.j.deployment_id, status, reason)
        self.j.event("rolled_back" if status != "failed" else "failed", reason)

    async def _refill(self, version: str) -> None:
        """Start instances of `version` until the pool has `instances` again."""
        missing = self.policy.instances - len(self.old)
        if missing <= 0:
            return
        slots = self._free_slots(missing)
        releases = [self.ctl.resolve(version, slot) for slot in slots]
        async with self.j.step("refill", {"version": version, "slots": slots}):
            members = await asyncio.gather(*(self._start(r) for r in releases))
            for release in releases:
                await self._gate(release)
            self.old += members
            await self._publish()
            for m in members:
                self.ctl.state.set_slot(m.slot, m.version, m.port, "live")
                self.ctl.supervise(m.slot)

    # -- helpers ---------------------------------------------------------------------------------

    def _free_slots(self, count: int) -> list[str]:
        busy = {m.slot for m in self.old + self.new}
        busy |= {n for n, s in self.ctl.state.slots().items() if s.role != "idle"}
        free = [n for n in self.ctl.config.rolling_slot_names() if n not in busy]
        if len(free) < count:
            raise StepFailed(f"no free pool slot for {count} more instances (busy: {sorted(busy)})")
        return free[:count]

    def _member(self, s: SlotState) -> Member:
        inst = self.ctl.instance(s.name)
        url = inst.base_url if inst else f"http://{self.ctl.config.service.host}:{s.port}"
        return Member(s.name, s.version or "", url, s.port or 0)

    def _alive(self, slot: str) -> Callable[[], bool]:
        def alive() -> bool:
            inst = self.ctl.instance(slot)
            return inst is not None and self.ctl.runtime.is_alive(inst)

        return alive
