"""Blue-green: start the new release in the idle slot, gate it, switch all traffic at once,
watch it, and keep the old slot warm so that a rollback is a single switch back.

Each step is journaled before it acts. On failure before the switch the candidate is stopped
and traffic never moved; on failure inside the post-switch window traffic flips back to the warm
old slot at once (fast path), then the candidate is stopped. Nothing here ever retries a failed
step, so a deploy cannot loop.
"""

from __future__ import annotations

import time

from v11ops.config import ResolvedRelease
from v11ops.deploy.alerts import window_alert_check
from v11ops.deploy.controller import Controller
from v11ops.deploy.hookpoints import hook_gate, on_rollback
from v11ops.deploy.journal import Journal, StepFailed
from v11ops.deploy.state import SlotState
from v11ops.deploy.window import post_switch_window
from v11ops.gates import HookContext, readiness, run_hooks, smoke


class BlueGreenRun:
    def __init__(
        self, ctl: Controller, journal: Journal, release: ResolvedRelease, stable: SlotState | None
    ) -> None:
        self.ctl = ctl
        self.j = journal
        self.release = release
        self.slot = release.slot
        self.stable = stable
        self.policy = ctl.config.strategy.blue_green

    async def run(self) -> None:
        self.j.event("started", f"deploying {self.release.version} to slot {self.slot}",
                     stable=self.stable.name if self.stable else None)  # fmt: skip
        try:
            await self._before_switch()
        except StepFailed as exc:
            await self._abandon(str(exc))
            return
        await self._switch()
        await self.after_switch()

    async def _before_switch(self) -> None:
        await self.prepare_candidate()
        ctl, rel = self.ctl, self.release
        if self.policy.preview:
            async with self.j.step("preview", {"url": rel.base_url}):
                ctl.state.set_status(self.j.deployment_id, "paused", "waiting for promote")
                self.j.event("paused", f"preview at {rel.base_url}; run `v11ops promote`")
                await ctl._promote.wait()
                ctl.state.set_status(self.j.deployment_id, "running")
                if ctl._abort.is_set():
                    raise StepFailed("aborted during preview")
        if ctl._abort.is_set():
            raise StepFailed("aborted")
        await self.pre_switch_hooks()

    async def prepare_candidate(self) -> None:
        """Start the release in the candidate slot and gate it (readiness, smoke); no traffic."""
        ctl, rel = self.ctl, self.release
        await hook_gate(ctl, self.j, "pre_deploy", self._hook_context())
        async with self.j.step("start", {"slot": self.slot, "port": rel.port}) as out:
            warm = ctl.state.slots().get(self.slot)
            if warm is not None and warm.role == "warm":
                self.j.event("warm_replaced", f"slot {self.slot} ({warm.version}) stops being warm")
            ctl.state.set_slot(self.slot, rel.version, rel.port, "candidate")
            try:
                inst = await ctl.start_instance(self.slot, rel)
            except Exception as exc:
                raise StepFailed(f"could not start {rel.version}: {exc}") from None
            out.update(pid=inst.pid, url=inst.base_url)
        async with self.j.step("readiness"):
            r = self.policy.readiness
            ctl.record_gate(self.j, await ctl.abortable(readiness(
                rel.base_url, rel.ready_path, consecutive_passes=r.consecutive_passes,
                interval_s=r.interval_s, deadline_s=ctl.config.readiness_deadline_s,
                is_alive=lambda: self._alive(),
            )))  # fmt: skip
        async with self.j.step("smoke"):
            ctl.record_gate(self.j, await ctl.abortable(smoke(
                rel.base_url, ctl.config.gates.smoke, version=rel.version,
                config_dir=ctl.config.config_dir,
            )))  # fmt: skip

    async def pre_switch_hooks(self) -> None:
        ctl = self.ctl
        async with self.j.step("pre_switch"):
            ctl.record_gate(self.j, await run_hooks(
                "pre_switch", ctl.config.hooks.pre_switch, self._hook_context(),
                config_dir=ctl.config.config_dir,
            ))  # fmt: skip

    async def _switch(self) -> None:
        ctl, rel = self.ctl, self.release
        async with self.j.step("switch", {"to": self.slot}) as out:
            self.baseline = await ctl.traffic.snapshot()
            result = await ctl.traffic.switch_to(self.slot, rel.base_url, rel.version)
            ctl.state.set_slot(self.slot, rel.version, rel.port, "live")
            if self.stable is not None:
                ctl.state.set_slot(self.stable.name, self.stable.version, self.stable.port, "warm")
            out.update(revision=result.revision, took_ms=round(result.took_s * 1000, 2))
        self.switched_at = time.monotonic()
        self.j.event("switched", f"all traffic on {self.slot} ({rel.version})",
                     took_ms=round(result.took_s * 1000, 2))  # fmt: skip

    async def after_switch(self) -> None:
        """The post-switch window, then success or a fast rollback. Also used on recovery."""
        ctl, rel = self.ctl, self.release
        if not hasattr(self, "baseline"):
            self.baseline = await ctl.traffic.snapshot()
        if self.stable is None:
            self.j.event("window_skipped", "first deploy: no previous release to roll back to")
            await self._succeed()
            return
        try:
            await hook_gate(ctl, self.j, "post_switch", self._hook_context())
            async with self.j.step("post_switch_window"):
                ctl.record_gate(self.j, await post_switch_window(
                    slot=self.slot, ready_url=rel.base_url + rel.ready_path,
                    is_alive=self._alive, traffic=ctl.traffic, baseline=self.baseline,
                    policy=self.policy, length_s=self.policy.post_switch_window_s,
                    alerts=window_alert_check(ctl, self.j.deployment_id, self.slot, rel.version),
                ))  # fmt: skip
        except StepFailed as exc:
            stable = ctl.state.slots().get(self.stable.name) if self.stable else None
            await fast_rollback(ctl, self.j, stable, ctl.state.slots()[self.slot], manual=False,
                                reason=str(exc))  # fmt: skip
            return
        await self._succeed()

    async def _succeed(self) -> None:
        ctl, rel = self.ctl, self.release
        ctl.supervise(self.slot)
        ctl.state.mark_good(rel.version)
        if self.stable is not None:
            ctl.schedule_scale_down(self.stable.name, self.policy.scale_down_delay_s)
        ctl.state.finish_deployment(self.j.deployment_id, "succeeded", None)
        self.j.event("succeeded", f"{rel.version} is live on {self.slot}")

    async def _abandon(self, reason: str) -> None:
        """A gate failed before the switch: traffic never moved; stop the candidate."""
        slot = self.ctl.state.slots().get(self.slot)
        if slot is not None and slot.role == "candidate":  # else pre_deploy failed: none started
            async with self.j.step("stop_candidate", {"reason": reason}) as out:
                out.update(await self.ctl.stop_slot(self.slot))
        status = "aborted" if self.ctl._abort.is_set() else "failed"
        self.ctl.state.finish_deployment(self.j.deployment_id, status, reason)
        self.j.event(status, reason)

    def _alive(self) -> bool:
        inst = self.ctl.instance(self.slot)
        return inst is not None and self.ctl.runtime.is_alive(inst)

    def _hook_context(self) -> HookContext:
        old = self.ctl.instance(self.stable.name) if self.stable else None
        return HookContext(
            new=self.release.base_url,
            version=self.release.version,
            slot=self.slot,
            state_dir=str(self.ctl.config.state_path),
            old=old.base_url if old else None,
            old_version=self.stable.version if self.stable else None,
            old_slot=self.stable.name if self.stable else None,
        )


async def fast_rollback(
    ctl: Controller,
    journal: Journal,
    target: SlotState | None,
    current: SlotState | None,
    *,
    manual: bool,
    reason: str = "requested",
) -> None:
    """Switch all traffic back to the warm `target` slot, then retire `current`.

    The target must pass its own health check first: a rollback never lands on a broken slot.
    After an automatic rollback the bad slot is stopped; after a manual one it stays warm for
    the scale-down delay (so the rollback itself can be undone).
    """
    began = time.perf_counter()
    journal.event("rolling_back", f"rolling back: {reason}",
                  to=target.name if target else None)  # fmt: skip
    if target is None or target.version is None or not await ctl.healthy(target.name):
        why = "no warm slot" if target is None else f"slot {target.name} fails its health check"
        ctl.state.finish_deployment(journal.deployment_id, "failed",
                                    f"{reason}; cannot roll back: {why}")  # fmt: skip
        journal.event("rollback_impossible", why)
        return
    inst = ctl.instance(target.name)
    assert inst is not None
    async with journal.step("switch_back", {"to": target.name}) as out:
        result = await ctl.traffic.switch_to(target.name, inst.base_url, target.version)
        ctl._cancel_scale_down(target.name)
        ctl.state.set_slot(target.name, target.version, target.port, "live")
        took = time.perf_counter() - began
        out.update(revision=result.revision, rollback_ms=round(took * 1000, 2))
    journal.event("rolled_back", f"all traffic on {target.name} ({target.version})",
                  rollback_ms=round(took * 1000, 2), reason=reason)  # fmt: skip
    ctl.supervise(target.name)
    await on_rollback(ctl, journal, target, current)
    if current is not None and current.name != target.name:
        if manual:
            ctl.state.set_slot(current.name, current.version, current.port, "warm")
            ctl.supervisor.unwatch(current.name)
            ctl.schedule_scale_down(current.name, ctl.config.strategy.blue_green.scale_down_delay_s)
        else:
            async with journal.step("stop_candidate", {"slot": current.name}) as out:
                out.update(await ctl.stop_slot(current.name, drain=True))
    status = "succeeded" if manual else "rolled_back"
    ctl.state.finish_deployment(journal.deployment_id, status, None if manual else reason)
