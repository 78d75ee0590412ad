"""`run_analysis`: measure every check of a template on its schedule, concurrently, and decide.

Each check waits `initial_delay_s`, takes its starting snapshot, then measures at the end of
each `interval_s` until its tally decides. A failed check stops the others at once; an abort
request stops all of them within a tenth of a second. Provider failures are measurements with
verdict `error`, never exceptions.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from v11ops.analysis.context import AnalysisContext
from v11ops.analysis.measurement import Measurement
from v11ops.analysis.measurers import make_measurer
from v11ops.analysis.outcome import AnalysisOutcome, Tally, combine
from v11ops.config import AnalysisCheck, AnalysisTemplate

Record = Callable[[Measurement], None]
_ABORT_POLL_S = 0.1


async def run_analysis(
    template: AnalysisTemplate, ctx: AnalysisContext, record: Record
) -> AnalysisOutcome:
    """Run `template`'s checks against `ctx`; `record` receives every measurement as it is
    taken. The outcome's phase is successful, failed, inconclusive or aborted."""
    measurements: list[Measurement] = []

    def keep(m: Measurement) -> None:
        measurements.append(m)
        record(m)

    tallies = [Tally(check, check.count) for check in template.checks]
    tasks = [
        asyncio.create_task(_run_check(check, tally, ctx, keep))
        for check, tally in zip(template.checks, tallies, strict=True)
    ]
    try:
        for finished in asyncio.as_completed(tasks):
            if (await finished).phase in ("failed", "aborted"):
                break
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return combine(tallies, measurements)


async def _run_check(
    check: AnalysisCheck, tally: Tally, ctx: AnalysisContext, keep: Record
) -> Tally:
    measurer = make_measurer(check, ctx)
    try:
        if await _wait(check.initial_delay_s, ctx):
            tally.abort()
            return tally
        await measurer.begin()
        index = 0
        while tally.phase is None:
            if await _wait(check.interval_s, ctx):
                tally.abort()
                break
            index += 1
            measurement = await measurer.measure(index)
            keep(measurement)
            tally.add(measurement)
    finally:
        await measurer.aclose()
    return tally


async def _wait(seconds: float, ctx: AnalysisContext) -> bool:
    """Sleep `seconds`; True as soon as an abort is requested."""
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        if ctx.abort_requested():
            return True
        await asyncio.sleep(min(_ABORT_POLL_S, left))
    return ctx.abort_requested()
