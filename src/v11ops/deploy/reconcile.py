"""Crash recovery: what the controller does on start so that traffic ends on a healthy release.

Per journal step of an unfinished deployment:
- before `switch` is done (start, readiness, smoke, preview, pre_switch, or switch itself): roll
  back. If the router already points at the candidate (the crash fell between the router call
  and the journal write), traffic goes back to the stable slot when it is healthy; the candidate
  is stopped; the deployment ends `aborted`.
- `switch` done (in the post-switch window, or during a rollback): if the candidate is healthy,
  the post-switch window runs again from the start and the deployment ends normally; if not,
  traffic flips back to the warm stable slot (fast rollback).
Then: instances are re-adopted (never duplicated), slots whose instance is gone are restarted
(live) or marked idle (warm, candidate), and warm slots get their scale-down timer back.
"""

from __future__ import annotations

import time

import structlog

from v11ops.deploy.bluegreen import BlueGreenRun, fast_rollback
from v11ops.deploy.controller import Controller
from v11ops.deploy.journal import Journal
from v11ops.deploy.state import Deployment, SlotState
from v11ops.router.table import Target

log = structlog.get_logger("v11ops.reconcile")


async def reconcile(ctl: Controller) -> None:
    adopted = await ctl.runtime.adopt()
    ctl.state.event(None, "controller_started", "controller started; re-adopted instances",
                    adopted=[i.slot for i in adopted.adopted],
                    reaped=list(getattr(adopted, "reaped", [])))  # fmt: skip
    for dep in ctl.state.unfinished():
        token = ctl.acquire_lock(takeover=True)
        try:
            await _recover(ctl, dep, Journal(ctl.state, dep.id, token, ctl.notifier))
        finally:
            ctl.release_lock()
    await _heal_slots(ctl)


async def _recover(ctl: Controller, dep: Deployment, journal: Journal) -> None:
    steps = ctl.state.steps(dep.id)
    switched = any(s["name"] in ("switch", "switch_back") and s["status"] == "done" for s in steps)
    journal.event("recovering", "controller restarted during this deployment",
                  last_step=steps[-1]["name"] if steps else None, switched=switched)  # fmt: skip
    if dep.strategy == "rolling":
        await _recover_pool(ctl, dep, journal)
        return
    slots = ctl.state.slots()
    candidate = slots.get(dep.candidate_slot or "")
    stable = slots.get(dep.stable_slot or "") if dep.stable_slot else None
    if dep.kind == "rollback" or not switched:
        await _restore_stable(ctl, journal, dep, stable)
        return
    if candidate is not None and await ctl.healthy(candidate.name):
        release = ctl.resolve(dep.version, candidate.name, candidate.port)
        run = BlueGreenRun(ctl, journal, release, stable)
        await run.after_switch()
        return
    await fast_rollback(ctl, journal, stable, candidate, manual=False,
                        reason="controller restarted and the new release is unhealthy")  # fmt: skip


async def _recover_pool(ctl: Controller, dep: Deployment, journal: Journal) -> None:
    """A rolling deploy stopped midway: instances not yet routed stop; the router gets exactly
    the live ones. The pool may mix both releases until the next deploy, and says so."""
    for name, slot in ctl.state.slots().items():
        if slot.role in ("candidate", "retiring"):
            await ctl.stop_slot(name)
    await route_live(ctl)
    versions = sorted({s.version or "" for s in ctl.state.slots().values() if s.role == "live"})
    reason = (
        "controller restarted during a rolling deploy; the pool keeps its live instances "
        f"({', '.join(versions)}): run the deploy again"
    )
    ctl.state.finish_deployment(dep.id, "aborted", reason)
    journal.event("aborted", reason)


async def route_live(ctl: Controller) -> None:
    """Route to every live slot whose instance runs (one slot, or a rolling pool)."""
    targets = []
    for name, slot in sorted(ctl.state.slots().items()):
        inst = ctl.instance(name)
        if slot.role == "live" and slot.version and inst is not None:
            targets.append(Target(name, inst.base_url, 100, slot.version))
    if targets:
        await ctl.traffic.set_targets(targets)


async def _restore_stable(
    ctl: Controller, journal: Journal, dep: Deployment, stable: SlotState | None
) -> None:
    """The switch never completed: traffic back on the stable slot; the candidate stopped."""
    if dep.kind == "rollback":
        await _finish_rollback(ctl, dep, stable)
        return
    routed = await ctl.traffic.active_slot()
    if stable is not None and stable.version:
        if routed != stable.name and await ctl.healthy(stable.name):
            await _route(ctl, stable)
            journal.event("traffic_restored", f"traffic back on {stable.name}")
        ctl.state.set_slot(stable.name, stable.version, stable.port, "live")
    elif routed is not None and routed == dep.candidate_slot:
        await ctl.traffic.clear()  # a first deploy: nothing was live before it
    if dep.candidate_slot:
        await ctl.stop_slot(dep.candidate_slot)
    ctl.state.finish_deployment(
        dep.id, "aborted", "controller restarted before the switch completed; rolled back"
    )
    journal.event("aborted", "rolled back after controller restart")


async def _finish_rollback(ctl: Controller, dep: Deployment, previous: SlotState | None) -> None:
    """A manual fast rollback targets a slot that was running: finish it if that slot is healthy."""
    target = ctl.state.slots().get(dep.candidate_slot or "")
    if target is not None and target.version and await ctl.healthy(target.name):
        await _route(ctl, target)
        ctl.state.set_slot(target.name, target.version, target.port, "live")
        if previous is not None and previous.name != target.name and previous.version:
            ctl.state.set_slot(previous.name, previous.version, previous.port, "warm")
        ctl.state.finish_deployment(dep.id, "succeeded", "completed after controller restart")
        return
    if previous is not None and previous.version and await ctl.healthy(previous.name):
        await _route(ctl, previous)
        ctl.state.set_slot(previous.name, previous.version, previous.port, "live")
    ctl.state.finish_deployment(dep.id, "failed", "rollback target unhealthy after restart")


async def _route(ctl: Controller, slot: SlotState) -> None:
    inst = ctl.instance(slot.name)
    assert inst is not None and slot.version is not None
    await ctl.traffic.switch_to(slot.name, inst.base_url, slot.version)


async def _heal_slots(ctl: Controller) -> None:
    """Make the slot table match the running instances; restart a live slot that died."""
    delay = ctl.config.strategy.blue_green.scale_down_delay_s
    for name, slot in ctl.state.slots().items():
        inst = ctl.instance(name)
        alive = inst is not None and ctl.runtime.is_alive(inst)
        if slot.role == "live" and not alive and slot.version:
            release = ctl.resolve(slot.version, name, slot.port)
            new = await ctl.runtime.start(name, release, release.port)
            ctl.state.event(None, "instance_restarted", f"restarted live slot {name}", pid=new.pid)
            routes = await ctl.traffic.routes()
            if not any(t.name == name for t in routes.active):
                await route_live(ctl)
            ctl.supervise(name)
        elif slot.role == "live":
            ctl.supervise(name)
        elif slot.role == "warm" and alive:
            remaining = max(delay - (time.time() - _updated_at(ctl, name)), 0.0)
            ctl.schedule_scale_down(name, remaining)
        elif slot.role in ("warm", "retiring", "candidate"):
            await ctl.stop_slot(name)
    known = set(ctl.state.slots())
    for inst in ctl.runtime.instances():
        if inst.slot not in known or ctl.state.slots()[inst.slot].role == "idle":
            await ctl.runtime.stop(inst, ctl.config.service.drain_timeout_s)
            ctl.state.event(
                None, "orphan_stopped", f"stopped an instance no slot owns: {inst.slot}"
            )


def _updated_at(ctl: Controller, slot: str) -> float:
    rows = ctl.state._query("SELECT updated_at FROM slots WHERE name = ?", (slot,))
    return float(rows[0][0]) if rows else time.time()
