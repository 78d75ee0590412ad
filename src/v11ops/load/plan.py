"""How a run is split between load processes: each gets its own accounts and an even share of
the schedule, interleaved so that together they send at the requested rate."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

from v11ops.load.spec import LoadSpec


@dataclass(frozen=True, slots=True)
class WorkerPlan:
    """One load process's share of a run. Picklable: it is sent to spawned processes."""

    spec: LoadSpec
    worker: int
    accounts: range
    requests: int
    max_in_flight: int
    sign_threads: int

    @property
    def slot_interval_s(self) -> float:
        """Time between two request slots of the whole run (reads and writes together)."""
        return self.spec.batch / self.spec.rate * (1 - self.spec.read_ratio)

    def slot_time(self, slot: int) -> float:
        """Seconds from the start at which this process's `slot`-th request is due.

        Global slot g belongs to process g mod W, so the processes' schedules interleave.
        """
        return (slot * self.spec.workers + self.worker) * self.slot_interval_s

    @staticmethod
    def is_read(slot: int, read_ratio: float) -> bool:
        """Spread reads evenly among slots: slot k is a read when floor(k * ratio) steps up."""
        return math.floor((slot + 1) * read_ratio) > math.floor(slot * read_ratio)


def split(spec: LoadSpec) -> list[WorkerPlan]:
    """Divide accounts, requests and the in-flight cap of `spec` between its workers."""
    workers = spec.workers
    per_accounts, extra_accounts = divmod(spec.accounts, workers)
    per_requests, extra_requests = divmod(spec.requests, workers)
    in_flight = max(1, math.ceil(spec.max_in_flight / workers))
    threads = max(1, (os.cpu_count() or 1) // workers)
    plans = []
    first = spec.first_account
    for w in range(workers):
        count = per_accounts + (1 if w < extra_accounts else 0)
        plans.append(
            WorkerPlan(
                spec=spec,
                worker=w,
                accounts=range(first, first + count),
                requests=per_requests + (1 if w < extra_requests else 0),
                max_in_flight=in_flight,
                sign_threads=threads,
            )
        )
        first += count
    return plans
