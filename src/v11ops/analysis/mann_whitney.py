"""Baseline versus canary latency: a one-sided Mann-Whitney U test on paired probes.

Samples: `samples` identical requests to each slot's own address (not through the router), sent
in pairs at the same moment, the first of each pair alternating between the slots. Both slots
are measured under the same load, by the same client, with exact (not bucketed) latencies, and
with or without real traffic, and with either router kind. It measures the slot itself, not the
traffic mix clients send (the router and error-rate checks judge that).

Failed only when the candidate is slower by all three measures: the p-value of "candidate
latencies are stochastically greater" is below `max_p_value`; the common-language effect size
P(candidate request slower than a stable one) = U / (n1 * n2) is at least `min_effect_size`; and
the candidate's median is at least `min_slowdown` times the stable's (a significant but
negligible difference is not a regression).
"""

from __future__ import annotations

import asyncio
import statistics
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from v11ops.analysis.context import SlotRef
from v11ops.analysis.judge import ProviderError, http_problem
from v11ops.analysis.measurement import Verdict
from v11ops.config import MannWhitneyCheck


@dataclass
class Probes:
    """Latencies (seconds) of the 2xx answers of one slot, and what went wrong with the rest."""

    slot: SlotRef
    latencies: list[float] = field(default_factory=list)
    non_2xx: int = 0
    transport_errors: int = 0
    last_error: str = ""

    async def send(self, client: httpx.AsyncClient, path: str) -> None:
        started = time.perf_counter()
        try:
            response = await client.get(f"{self.slot.base_url.rstrip('/')}{path}")
        except httpx.HTTPError as exc:
            self.transport_errors += 1
            self.last_error = http_problem(exc)
            return
        elapsed = time.perf_counter() - started
        if 200 <= response.status_code < 300:
            self.latencies.append(elapsed)
        else:
            self.non_2xx += 1

    def counts(self) -> dict[str, int]:
        return {
            "answered_2xx": len(self.latencies),
            "non_2xx": self.non_2xx,
            "transport_errors": self.transport_errors,
        }


async def probe(
    check: MannWhitneyCheck, candidate: SlotRef, stable: SlotRef
) -> tuple[Probes, Probes]:
    """`check.samples` pairs; ProviderError when a slot cannot be reached at all."""
    cand, stab = Probes(candidate), Probes(stable)
    async with httpx.AsyncClient(timeout=check.timeout_s) as client:
        # Open the keep-alive connections first, so no sample pays for a TCP handshake.
        await asyncio.gather(Probes(candidate).send(client, check.path),
                             Probes(stable).send(client, check.path))  # fmt: skip
        for i in range(check.samples):
            first, second = (cand, stab) if i % 2 == 0 else (stab, cand)
            await asyncio.gather(first.send(client, check.path), second.send(client, check.path))
    for side in (cand, stab):
        if not side.latencies and side.transport_errors:
            raise ProviderError(
                f"cannot probe slot {side.slot.name} at {side.slot.base_url}: {side.last_error}"
            )
    return cand, stab


def compare(
    check: MannWhitneyCheck, cand: Probes, stab: Probes
) -> tuple[Verdict, str, dict[str, Any]]:
    """(verdict, reason, statistics) for the two samples."""
    n1, n2 = len(cand.latencies), len(stab.latencies)
    if min(n1, n2) < check.min_samples:
        return (
            "inconclusive",
            (
                f"only {n1} candidate and {n2} stable probes answered 2xx, fewer than min_samples "
                f"{check.min_samples}: too few to compare"
            ),
            {"candidate_samples": n1, "stable_samples": n2},
        )
    # Imported here: scipy.stats costs about 1.5 s of CPU to import, which every `v11ops`
    # command would pay through the CLI's imports.
    from scipy.stats import mannwhitneyu

    test = mannwhitneyu(cand.latencies, stab.latencies, alternative="greater", method="auto")
    p_value, effect = float(test.pvalue), float(test.statistic) / (n1 * n2)
    median_c, median_s = statistics.median(cand.latencies), statistics.median(stab.latencies)
    slowdown = median_c / median_s if median_s > 0 else float("inf")
    value = {
        "p_value": p_value,
        "effect_size": round(effect, 4),
        "slowdown": round(slowdown, 3),
        "candidate_median_ms": round(median_c * 1000, 3),
        "stable_median_ms": round(median_s * 1000, 3),
        "candidate_samples": n1,
        "stable_samples": n2,
    }
    medians = f"median {median_c * 1000:.2f} ms vs {median_s * 1000:.2f} ms ({slowdown:.2f}x"
    tests = (
        f"P(candidate slower) {effect:.2f} (threshold {check.min_effect_size}), "
        f"p {p_value:.2g} (threshold {check.max_p_value})"
    )
    slower = (
        p_value < check.max_p_value
        and effect >= check.min_effect_size
        and slowdown >= check.min_slowdown
    )
    if slower:
        reason = f"candidate slower: {medians} >= {check.min_slowdown}x), {tests}"
        return "failed", reason, value
    reason = f"no slowdown beyond the thresholds: {medians}, needs {check.min_slowdown}x), {tests}"
    return "successful", reason, value
