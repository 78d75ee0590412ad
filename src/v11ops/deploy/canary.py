"""Canary: start the release in the idle slot, gate it, then move traffic to it in steps.

The steps come from `strategy.canary.steps`: `set_weight` (the canary's share of new requests),
`pause` (a duration, or until `v11ops promote`) and `analysis` (templates from the `analysis:`
section). Every pause is watched with the router's counters like the blue-green window, so a
canary that breaks the limits is rolled back at once instead of at the next analysis. A failed
analysis rolls back; an inconclusive one pauses for a human (`promote` continues, `abort` rolls
back). The last step gives the canary all traffic; the stable slot then stays warm for the
scale-down delay, as after a blue-green switch, so `v11ops rollback` is one switch back.

The candidate is listed first in the route table, so a sticky key (header or cookie) that hashes
onto the canary at 10 % stays on it at 50 %: a client never flips back to the old version while the
weight only grows.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from typing import Any

from v11ops.config import Canary
from v11ops.config._strategy import Analysis, Pause, SetWeight
from v11ops.deploy.alerts import window_alert_check
from v11ops.deploy.bluegreen import BlueGreenRun
from v11ops.deploy.hookpoints import hook_gate, on_rollback, pre_step
from v11ops.deploy.journal import StepFailed
from v11ops.deploy.synthetic import top_up_through
from v11ops.deploy.window import post_switch_window
from v11ops.router.table import Target


class CanaryRun(BlueGreenRun):
    @property
    def canary(self) -> Canary:
        return self.ctl.config.strategy.canary

    async def run(self) -> None:
        if self.stable is None:
            self.j.event("canary_first_deploy", "nothing runs yet: all traffic at once")
            await super().run()
            return
        self.j.event("started", f"canary of {self.release.version} in slot {self.slot}",
                     stable=self.stable.name, steps=len(self.canary.steps))  # fmt: skip
        try:
            await self.prepare_candidate()
        except StepFailed as exc:
            await self._abandon(str(exc))
            return
        self.weight = 0
        try:
            await self._steps()
            if self.weight < 100:
                await self._set_weight(100, len(self.canary.steps))
            await hook_gate(self.ctl, self.j, "post_switch", self._hook_context())
        except StepFailed as exc:
            await self._roll_back(str(exc))
            return
        await self._promoted()

    async def _steps(self) -> None:
        for index, step in enumerate(self.canary.steps):
            if self.ctl._abort.is_set():
                raise StepFailed("aborted by the operator")
            if isinstance(step, SetWeight):
                await self._set_weight(step.set_weight, index)
            elif isinstance(step, Pause):
                await self._pause(step.pause.duration_s, index)
            elif isinstance(step, Analysis):
                await self._analysis(step.analysis.templates, index)

    # -- steps -----------------------------------------------------------------------------------

    async def _set_weight(self, weight: int, index: int) -> None:
        ctl, rel, stable = self.ctl, self.release, self.stable
        assert stable is not None and stable.version is not None
        old = ctl.instance(stable.name)
        if old is None:
            raise StepFailed(f"the stable slot {stable.name} has no running instance")
        await pre_step(ctl, self.j, self._hook_context(), weight=weight, index=index)
        if weight == 100:
            await self.pre_switch_hooks()
        async with self.j.step("set_weight", {"weight": weight, "index": index}) as out:
            targets = [
                Target(self.slot, rel.base_url, weight, rel.version),
                Target(stable.name, old.base_url, 100 - weight, stable.version),
            ]
            sticky = self.canary.sticky
            header = sticky.header if sticky else None
            cookie = sticky.cookie if sticky else None
            result = await ctl.traffic.set_targets(targets, header, cookie)
            out.update(revision=result.revision, took_ms=round(result.took_s * 1000, 2))
        self.weight = weight
        self.j.event("step", f"{weight} % of new requests on {self.slot} ({rel.version})",
                     weight=weight, index=index)  # fmt: skip

    async def _pause(self, duration_s: float | None, index: int) -> None:
        """Hold the weight; watch the canary meanwhile. None: until `v11ops promote`."""
        ctl = self.ctl
        async with self.j.step("pause", {"duration_s": duration_s, "index": index}):
            if duration_s is None:
                self._paused("paused at {w} %: run `v11ops promote` to go on or `v11ops abort`")
            await self._watch(duration_s)
            ctl.state.set_status(self.j.deployment_id, "running")

    async def _watch(self, duration_s: float | None) -> None:
        """The post-switch window on the canary, until the duration ends or promote/abort."""
        ctl, rel = self.ctl, self.release
        ctl._promote.clear()
        window = asyncio.ensure_future(post_switch_window(
            slot=self.slot, ready_url=rel.base_url + rel.ready_path, is_alive=self._alive,
            traffic=ctl.traffic, baseline=await ctl.traffic.snapshot(), policy=self.canary,
            length_s=math.inf if duration_s is None else duration_s,
            alerts=window_alert_check(ctl, self.j.deployment_id, self.slot, rel.version),
        ))  # fmt: skip
        promoted = asyncio.ensure_future(ctl._promote.wait())
        try:
            await asyncio.wait({window, promoted}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (window, promoted):
                if not task.done():
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
        if ctl._abort.is_set():
            raise StepFailed("aborted by the operator")
        if window.done() and not window.cancelled():
            ctl.record_gate(self.j, window.result())
        else:
            ctl._promote.clear()
            self.j.event("promoted", f"promoted at {self.weight} %")

    async def _analysis(self, templates: list[str], index: int) -> None:
        from v11ops.deploy.analysis_step import analyse

        async with self.j.step("analysis", {"templates": templates, "index": index}) as out:
            phase, reason = await analyse(self, templates)
            out.update(phase=phase, reason=reason)
            if phase == "failed":
                raise StepFailed(f"analysis failed: {reason}")
            if phase == "aborted":
                raise StepFailed("aborted by the operator")
            if phase == "inconclusive":
                self._paused(f"analysis inconclusive at {{w}} % ({reason}): `v11ops promote` to "
                             "go on, `v11ops abort` to roll back")  # fmt: skip
                await self._watch(None)
                self.ctl.state.set_status(self.j.deployment_id, "running")

    def _paused(self, template: str) -> None:
        message = template.format(w=self.weight)
        self.ctl.state.set_status(self.j.deployment_id, "paused", message)
        self.j.event("paused", message, weight=self.weight)

    async def top_up(self, requests: int) -> int:
        """Synthetic reads through the router so the canary gets `requests` of its own."""
        if self.weight <= 0:
            return 0
        total = math.ceil(requests * 100 / self.weight)
        return await top_up_through(self.ctl.config, total)

    # -- endings ---------------------------------------------------------------------------------

    async def _promoted(self) -> None:
        ctl, rel, stable = self.ctl, self.release, self.stable
        assert stable is not None
        # Clean table: the canary alone, the stable slot warm for a one-switch rollback.
        await ctl.traffic.switch_to(self.slot, rel.base_url, rel.version)
        ctl.state.set_slot(self.slot, rel.version, rel.port, "live")
        ctl.state.set_slot(stable.name, stable.version, stable.port, "warm")
        ctl.supervise(self.slot)
        ctl.state.mark_good(rel.version)
        ctl.schedule_scale_down(stable.name, self.canary.scale_down_delay_s)
        ctl.state.finish_deployment(self.j.deployment_id, "succeeded", None)
        self.j.event("succeeded", f"{rel.version} is live on {self.slot} after its canary")

    async def _roll_back(self, reason: str) -> None:
        """All traffic back on the stable slot (it never stopped serving), then stop the canary."""
        ctl, stable = self.ctl, self.stable
        assert stable is not None and stable.version is not None
        old = ctl.instance(stable.name)
        detail: dict[str, Any] = {"reason": reason, "weight": self.weight}
        self.j.event("rolling_back", f"rolling back the canary: {reason}", weight=self.weight)
        if old is not None:
            async with self.j.step("switch_back", {"to": stable.name}) as out:
                result = await ctl.traffic.switch_to(stable.name, old.base_url, stable.version)
                out.update(revision=result.revision, took_ms=round(result.took_s * 1000, 2))
            await on_rollback(ctl, self.j, stable, ctl.state.slots().get(self.slot))
        async with self.j.step("stop_candidate", detail) as out:
            out.update(await ctl.stop_slot(self.slot, drain=True))
        status = "aborted" if ctl._abort.is_set() else "rolled_back"
        ctl.state.finish_deployment(self.j.deployment_id, status, reason)
        self.j.event("rolled_back" if status == "rolled_back" else "aborted",
                     f"all traffic on {stable.name} ({stable.version}): {reason}")  # fmt: skip
