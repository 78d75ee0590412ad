"""Running a load spec: in this process for one worker, in spawned processes for several."""

from __future__ import annotations

import asyncio

from v11ops.load.driver import drive, new_event_loop, prepare
from v11ops.load.plan import split
from v11ops.load.report import LoadReport, merge
from v11ops.load.spec import LoadSpec
from v11ops.load.workers import PhaseHook, run_in_processes


def run_load(spec: LoadSpec, on_phase: PhaseHook | None = None) -> LoadReport:
    """Run `spec` to completion and report. Blocks; from async code use `run_load_async`.

    `on_phase` is told "signing" before transactions are signed ahead and "sending" when the
    measured window starts (from a worker thread when `spec.workers` > 1).
    """
    if spec.workers > 1:
        return merge(spec, run_in_processes(spec, on_phase))
    with asyncio.Runner(loop_factory=new_event_loop) as runner:
        return runner.run(run_load_async(spec, on_phase))


async def run_load_async(spec: LoadSpec, on_phase: PhaseHook | None = None) -> LoadReport:
    """Run `spec` without blocking the running event loop (signing happens in a thread)."""
    if spec.workers > 1:
        return merge(spec, await asyncio.to_thread(run_in_processes, spec, on_phase))
    (plan,) = split(spec)
    if on_phase:
        on_phase("signing")
    accounts, tally = await asyncio.to_thread(prepare, plan)
    if on_phase:
        on_phase("sending")
    return merge(spec, [await drive(plan, accounts, tally)])
