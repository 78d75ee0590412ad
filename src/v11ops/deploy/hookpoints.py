"""Hooks at the deploy points, as journaled gates: every strategy calls these.

- pre_deploy (before anything starts), pre_step (canary, before each weight change) and
  post_switch (after traffic moved): a failing required hook fails the gate (StepFailed), so the
  strategy stops the deploy or rolls back, as it does for any gate at that point.
- on_rollback (after traffic moved back): a failure is recorded but cannot stop the rollback.

A point without hooks journals nothing. After a controller restart in the post-switch window the
window runs again, and so do the post_switch hooks: write them to be safe to repeat.
"""

from __future__ import annotations

from typing import Any

from v11ops.config import HookPoint
from v11ops.deploy.controller import Controller
from v11ops.deploy.journal import Journal, StepFailed
from v11ops.deploy.state import SlotState
from v11ops.gates import HookContext, run_hooks


async def hook_gate(
    ctl: Controller,
    journal: Journal,
    point: HookPoint,
    context: HookContext,
    *,
    detail: dict[str, Any] | None = None,
) -> None:
    """Run the hooks of `point` as a journaled, abortable gate; StepFailed when it fails."""
    hooks = ctl.config.hooks.at(point)
    if not hooks:
        return
    async with journal.step(point, detail):
        ctl.record_gate(journal, await ctl.abortable(run_hooks(
            point, hooks, context, config_dir=ctl.config.config_dir,
        )))  # fmt: skip


async def pre_step(
    ctl: Controller, journal: Journal, context: HookContext, *, weight: int, index: int
) -> None:
    """Canary: the pre_step hooks before the weight becomes `weight` (step `index`)."""
    await hook_gate(ctl, journal, "pre_step", context, detail={"weight": weight, "index": index})


async def on_rollback(
    ctl: Controller, journal: Journal, target: SlotState, rolled_back: SlotState | None
) -> None:
    """The on_rollback hooks, once traffic is on `target`. A failure is recorded (verdict,
    step, event), never raised: the rollback has happened and stands."""
    hooks = ctl.config.hooks.on_rollback
    if not hooks or target.version is None:
        return
    new = ctl.instance(target.name)
    old = ctl.instance(rolled_back.name) if rolled_back is not None else None
    context = HookContext(
        new=new.base_url if new else "",
        version=target.version,
        slot=target.name,
        state_dir=str(ctl.config.state_path),
        old=old.base_url if old else None,
        old_version=rolled_back.version if rolled_back else None,
        old_slot=rolled_back.name if rolled_back else None,
    )
    try:
        async with journal.step("on_rollback"):
            ctl.record_gate(journal, await run_hooks(
                "on_rollback", hooks, context, config_dir=ctl.config.config_dir,
            ))  # fmt: skip
    except StepFailed as exc:
        journal.event("hook_failed", f"{exc}; the rollback stands", point="on_rollback")
