"""The load report: what a run achieved, merged from the tallies of its processes."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from v11ops.load.spec import LoadSpec
from v11ops.load.tally import Tally


@dataclass(frozen=True, slots=True)
class LatencySummary:
    """Nearest-rank percentiles in milliseconds over `count` samples (all zero when empty)."""

    count: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float

    @classmethod
    def of(cls, seconds: Iterable[float]) -> LatencySummary:
        ordered = sorted(seconds)
        return cls(
            count=len(ordered),
            p50_ms=_percentile_ms(ordered, 50),
            p95_ms=_percentile_ms(ordered, 95),
            p99_ms=_percentile_ms(ordered, 99),
            max_ms=round(ordered[-1] * 1000, 3) if ordered else 0.0,
        )


def _percentile_ms(ordered: Sequence[float], pct: float) -> float:
    if not ordered:
        return 0.0
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return round(ordered[rank - 1] * 1000, 3)


@dataclass(frozen=True, slots=True)
class LoadReport:
    """What one load run achieved.

    Rates are per second of `elapsed_s`: from the start of the schedule to the last answer.
    `latency` covers write requests that got an HTTP answer, measured from the time each was
    scheduled to be sent (so a client that falls behind shows up as latency, not as a lower
    rate); `schedule_lag` is how late requests actually left. `rejected` counts write requests
    by HTTP status (4xx); `errors` counts requests by kind: connect, timeout, disconnected, 5xx,
    bad_response, client_saturated (not launched: in-flight cap or no free account),
    read_failed, worker_lost. `accepted` counts transactions acknowledged with 202.
    """

    target: str
    workers: int
    batch: int
    offered_tps: float
    duration_s: float
    elapsed_s: float
    sent_tps: float
    achieved_tps: float
    achieved_rps: float
    requests: int
    transactions: int
    accepted_requests: int
    accepted: int
    rejected: dict[str, int]
    errors: dict[str, int]
    statuses: dict[str, int]
    latency: LatencySummary
    reads: int
    reads_ok: int
    read_latency: LatencySummary
    schedule_lag: LatencySummary
    signed_ahead: int
    signed_late: int
    retired_accounts: int
    hashes: tuple[str, ...] = ()

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())

    @property
    def rejected_count(self) -> int:
        return sum(self.rejected.values())

    @property
    def failed(self) -> bool:
        """True when any request failed (errors > 0): the CLI then exits 1."""
        return self.error_count > 0

    def to_dict(self, include_hashes: bool = False) -> dict[str, Any]:
        """JSON-ready form (the `--json` output); hashes only when asked for."""
        data = asdict(self)
        if not include_hashes:
            del data["hashes"]
        else:
            data["hashes"] = list(self.hashes)
        return data


def merge(spec: LoadSpec, tallies: Sequence[Tally]) -> LoadReport:
    """Combine the tallies of all load processes of one run."""
    started = min((t.started for t in tallies if t.started), default=0.0)
    finished = max((t.finished for t in tallies), default=0.0)
    elapsed = max(finished - started, spec.duration_s) if started else spec.duration_s
    rejected: Counter[str] = Counter()
    errors: Counter[str] = Counter()
    statuses: Counter[str] = Counter()
    for t in tallies:
        rejected.update(t.rejected)
        errors.update(t.errors)
        statuses.update(t.statuses)
    transactions = sum(t.transactions for t in tallies)
    accepted = sum(t.accepted for t in tallies)
    answered = sum(len(t.latencies) + len(t.read_latencies) for t in tallies)
    return LoadReport(
        target=spec.target,
        workers=spec.workers,
        batch=spec.batch,
        offered_tps=spec.rate,
        duration_s=spec.duration_s,
        elapsed_s=round(elapsed, 3),
        sent_tps=round(transactions / spec.duration_s, 1),
        achieved_tps=round(accepted / elapsed, 1),
        achieved_rps=round(answered / elapsed, 1),
        requests=sum(t.requests for t in tallies),
        transactions=transactions,
        accepted_requests=sum(t.accepted_requests for t in tallies),
        accepted=accepted,
        rejected=dict(sorted(rejected.items())),
        errors=dict(sorted(errors.items())),
        statuses=dict(sorted(statuses.items())),
        latency=LatencySummary.of(x for t in tallies for x in t.latencies),
        reads=sum(t.reads for t in tallies),
        reads_ok=sum(t.reads_ok for t in tallies),
        read_latency=LatencySummary.of(x for t in tallies for x in t.read_latencies),
        schedule_lag=LatencySummary.of(x for t in tallies for x in t.lags),
        signed_ahead=sum(t.signed_ahead for t in tallies),
        signed_late=sum(t.signed_late for t in tallies),
        retired_accounts=sum(t.retired_accounts for t in tallies),
        hashes=tuple(h for t in tallies for h in t.hashes),
    )
