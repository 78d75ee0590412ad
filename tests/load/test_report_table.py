"""The load report as people read it: optional rows appear only when they have something."""

from __future__ import annotations

from dataclasses import replace

from rich.console import Console

from v11ops.cli.load import report_table
from v11ops.load.report import LatencySummary, LoadReport

EMPTY = LatencySummary.of([])


def _report(**changes: object) -> LoadReport:
    base = LoadReport(
        target="http://127.0.0.1:9003",
        workers=1,
        batch=10,
        offered_tps=100.0,
        duration_s=2.0,
        elapsed_s=2.1,
        sent_tps=100.0,
        achieved_tps=95.2,
        achieved_rps=9.5,
        requests=20,
        transactions=200,
        accepted_requests=19,
        accepted=190,
        rejected={},
        errors={},
        statuses={"202": 19},
        latency=LatencySummary.of([0.010, 0.020, 0.030]),
        reads=0,
        reads_ok=0,
        read_latency=EMPTY,
        schedule_lag=LatencySummary.of([0.001]),
        signed_ahead=200,
        signed_late=0,
        retired_accounts=0,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def _rows(report: LoadReport) -> dict[str, str]:
    console = Console(width=200, record=True, color_system=None)
    console.print(report_table(report))
    lines = console.export_text().splitlines()[2:]  # after the title and the top border
    rows = {}
    for line in lines:
        cells = [cell.strip() for cell in line.strip("│ ").split("│")]
        if len(cells) == 2:
            rows[cells[0]] = cells[1]
    return rows


def test_a_clean_run_shows_the_core_figures_only() -> None:
    rows = _rows(_report())
    assert rows["offered"] == "100.0 tx/s for 2 s (batch 10, 1 worker)"
    assert rows["rejected"] == "none" and rows["errors"] == "none"
    assert rows["latency"] == "p50 20.0 ms, p95 30.0 ms, p99 30.0 ms, max 30.0 ms"
    assert {"reads", "signed late", "retired accounts"}.isdisjoint(rows)


def test_reads_late_signing_retired_accounts_and_failures_get_their_rows() -> None:
    report = _report(
        workers=2,
        rejected={"409": 3},
        errors={"timeout": 2, "connect": 1},
        reads=4,
        reads_ok=3,
        read_latency=LatencySummary.of([0.005]),
        signed_late=7,
        retired_accounts=2,
    )
    rows = _rows(report)
    assert rows["offered"].endswith("(batch 10, 2 workers)")
    assert rows["rejected"] == "409: 3"
    assert rows["errors"] == "timeout: 2, connect: 1"
    assert rows["reads"] == "3/4 ok; p50 5.0 ms, p95 5.0 ms, p99 5.0 ms, max 5.0 ms"
    assert rows["signed late"] == "7 tx (more requests than planned)"
    assert rows["retired accounts"] == "2 (no answer: may be queued)"
    assert report.failed and report.error_count == 3 and report.rejected_count == 3


def test_a_run_without_answers_says_so_instead_of_zero_latencies() -> None:
    rows = _rows(_report(latency=EMPTY, accepted=0, errors={"connect": 20}))
    assert rows["latency"] == "no answers"
