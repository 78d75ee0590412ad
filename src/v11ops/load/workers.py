"""Several load processes for one run: each signs its share, then all start together.

Each process reports "ready" once its transactions are signed; when all are ready the parent
sets one start event, so the measured window opens at the same moment for every process.
Processes are spawned (not forked) so that a caller's threads, such as a test's in-process
server, are never copied into a child half-way through their work.
"""

from __future__ import annotations

import multiprocessing
import queue
import signal
import time
from collections.abc import Callable, Sequence
from multiprocessing.process import BaseProcess
from multiprocessing.synchronize import Event
from typing import TYPE_CHECKING, Any, TypeAlias

from v11ops.load import tally as kinds
from v11ops.load.driver import drive, new_event_loop, prepare
from v11ops.load.errors import LoadError
from v11ops.load.plan import WorkerPlan, split
from v11ops.load.spec import LoadSpec
from v11ops.load.tally import Tally

PhaseHook = Callable[[str], None]
if TYPE_CHECKING:
    Messages: TypeAlias = multiprocessing.Queue[tuple[str, int, Any]]

# Time to start the processes and derive keys, plus a generous bound on signing time.
_SIGNING_BASE_S = 30.0
_SIGNING_PER_TX_S = 200e-6
# After the hard stop, time for a process to hand its tally back.
_REPORT_S = 30.0
_POLL_S = 0.25


def signing_budget(spec: LoadSpec) -> float:
    return _SIGNING_BASE_S + _SIGNING_PER_TX_S * spec.transactions / spec.workers


def run_in_processes(spec: LoadSpec, on_phase: PhaseHook | None = None) -> list[Tally]:
    """Run `spec` in `spec.workers` processes and return their tallies."""
    plans = split(spec)
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Event()
    messages: Messages = ctx.Queue()
    processes = [
        ctx.Process(
            target=_worker_main,
            args=(plan, start, messages, signing_budget(spec)),
            name=f"v11ops-load-{plan.worker}",
            daemon=True,
        )
        for plan in plans
    ]
    if on_phase:
        on_phase("signing")
    for process in processes:
        process.start()
    try:
        _wait_ready(messages, processes, time.monotonic() + signing_budget(spec))
        start.set()
        if on_phase:
            on_phase("sending")
        return _collect(messages, plans, time.monotonic() + spec.duration_s + spec.grace_s)
    finally:
        for process in processes:
            process.join(timeout=5)
            if process.is_alive():
                process.terminate()
                process.join(timeout=5)


def _wait_ready(messages: Messages, processes: Sequence[BaseProcess], deadline: float) -> None:
    ready: set[int] = set()
    while len(ready) < len(processes):
        if time.monotonic() > deadline:
            raise LoadError(
                "load workers did not finish signing in time: lower --rate or --duration"
            )
        try:
            kind, worker, payload = messages.get(timeout=_POLL_S)
        except queue.Empty:
            dead = [p.name for p in processes if p.exitcode is not None]
            if dead:
                raise LoadError(f"load worker {dead[0]} exited before the start") from None
            continue
        if kind == "error":
            raise LoadError(f"load worker {worker} failed before the start: {payload}")
        ready.add(worker)


def _collect(messages: Messages, plans: list[WorkerPlan], deadline: float) -> list[Tally]:
    tallies: dict[int, Tally] = {}
    while len(tallies) < len(plans):
        try:
            kind, worker, payload = messages.get(
                timeout=max(0.1, deadline + _REPORT_S - time.monotonic())
            )
        except queue.Empty:
            break
        if kind == "tally":
            tallies[worker] = payload
    for plan in plans:
        if plan.worker not in tallies:
            lost = Tally()
            lost.errors[kinds.WORKER_LOST] = plan.requests
            tallies[plan.worker] = lost
    return [tallies[plan.worker] for plan in plans]


def _worker_main(plan: WorkerPlan, start: Event, messages: Messages, budget_s: float) -> None:
    # The parent owns the run: Ctrl-C reaches it, and it stops the workers.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        accounts, tally = prepare(plan)
    except Exception as exc:  # reported to the parent, which names it in a LoadError
        messages.put(("error", plan.worker, f"{type(exc).__name__}: {exc}"))
        return
    messages.put(("ready", plan.worker, None))
    if not start.wait(timeout=budget_s):
        return
    loop = new_event_loop()
    try:
        tally = loop.run_until_complete(drive(plan, accounts, tally))
    finally:
        loop.close()
    messages.put(("tally", plan.worker, tally))
