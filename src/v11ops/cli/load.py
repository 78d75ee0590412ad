"""`v11ops load`: drive signed transactions at a node or router at a steady (open-model) rate."""

from __future__ import annotations

from typing import Annotated

import orjson
import typer
from rich.console import Console
from rich.table import Table

from v11ops.cli.errors import EXIT_FAILED, err_console, fail
from v11ops.load import LoadError, LoadReport, LoadSpec, LoadSpecError, run_load
from v11ops.load.report import LatencySummary

EXIT_INTERRUPTED = 130


def register(root: typer.Typer) -> None:
    """Register the top-level `load` command."""
    root.command("load")(load)


def load(
    target: Annotated[
        str, typer.Option("--target", help="Base URL of the node or router: http://HOST:PORT.")
    ],
    rate: Annotated[float, typer.Option("--rate", help="Transactions per second to offer.")],
    duration: Annotated[float, typer.Option("--duration", help="Seconds to send for.")],
    batch: Annotated[int, typer.Option("--batch", help="Transactions per request.")] = 1,
    accounts: Annotated[
        int, typer.Option("--accounts", help="Funded development accounts that sign.")
    ] = 1000,
    workers: Annotated[
        int, typer.Option("--workers", help="Load processes, each with its own accounts.")
    ] = 1,
    json_output: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    api_key: Annotated[
        str | None,
        typer.Option("--api-key", envvar="V11_API_KEY", help="Sent as X-API-Key on every request."),
    ] = None,
    read_ratio: Annotated[
        float,
        typer.Option("--read-ratio", help="Fraction of requests that are reads (GET stats, info)."),
    ] = 0.0,
    max_in_flight: Annotated[
        int,
        typer.Option(
            "--max-in-flight", help="Requests outstanding at most; beyond: client_saturated."
        ),
    ] = 256,
    timeout: Annotated[
        float, typer.Option("--timeout", help="Seconds to wait for an answer.")
    ] = 5.0,
    allow_remote: Annotated[
        bool, typer.Option("--allow-remote", help="Allow a target that is not on this machine.")
    ] = False,
) -> None:
    """Send signed transactions at a steady rate and report what the target achieved.

    Exit code 0 when every request was answered (accepted or rejected), 1 when any failed.
    """
    try:
        spec = LoadSpec(
            target=target,
            rate=rate,
            duration_s=duration,
            batch=batch,
            accounts=accounts,
            workers=workers,
            api_key=api_key,
            read_ratio=read_ratio,
            max_in_flight=max_in_flight,
            timeout_s=timeout,
            allow_remote=allow_remote,
        )
    except LoadSpecError as exc:
        fail(str(exc))
    phases = {
        "signing": f"signing {spec.transactions:,} transactions ahead",
        "sending": f"sending {spec.rate:g} tx/s to {spec.target} for {spec.duration_s:g} s",
    }
    try:
        with err_console.status(phases["signing"]) as status:
            report = run_load(spec, on_phase=lambda phase: status.update(phases[phase]))
    except LoadError as exc:
        fail(str(exc), code=EXIT_FAILED)
    except KeyboardInterrupt:
        fail("interrupted: no report", code=EXIT_INTERRUPTED)
    if json_output:
        typer.echo(orjson.dumps(report.to_dict(), option=orjson.OPT_INDENT_2).decode())
    else:
        Console(highlight=False).print(report_table(report))
    if report.failed:
        raise typer.Exit(EXIT_FAILED)


def report_table(report: LoadReport) -> Table:
    """The report for people: one row per figure."""
    table = Table(title=f"load: {report.target}", show_header=False, title_justify="left")
    table.add_column("figure", style="bold")
    table.add_column("value")
    table.add_row(
        "offered",
        f"{report.offered_tps:,.1f} tx/s for {report.duration_s:g} s "
        f"(batch {report.batch}, {report.workers} worker{'s' if report.workers > 1 else ''})",
    )
    table.add_row("sent", f"{report.transactions:,} tx in {report.requests:,} requests")
    table.add_row(
        "achieved",
        f"{report.achieved_tps:,.1f} tx/s accepted, {report.achieved_rps:,.1f} requests/s "
        f"answered over {report.elapsed_s:g} s",
    )
    table.add_row("accepted", f"{report.accepted:,} tx in {report.accepted_requests:,} requests")
    table.add_row("rejected", _counts(report.rejected, "[yellow]"))
    table.add_row("errors", _counts(report.errors, "[red]"))
    table.add_row("latency", _latency(report.latency))
    if report.reads:
        table.add_row(
            "reads", f"{report.reads_ok:,}/{report.reads:,} ok; {_latency(report.read_latency)}"
        )
    table.add_row("schedule lag", f"p99 {report.schedule_lag.p99_ms:,.1f} ms")
    if report.signed_late:
        table.add_row("signed late", f"{report.signed_late:,} tx (more requests than planned)")
    if report.retired_accounts:
        table.add_row("retired accounts", f"{report.retired_accounts:,} (no answer: may be queued)")
    return table


def _counts(counts: dict[str, int], style: str) -> str:
    if not counts:
        return "none"
    return ", ".join(f"{style}{key}[/]: {value:,}" for key, value in counts.items())


def _latency(summary: LatencySummary) -> str:
    if not summary.count:
        return "no answers"
    return (
        f"p50 {summary.p50_ms:,.1f} ms, p95 {summary.p95_ms:,.1f} ms, "
        f"p99 {summary.p99_ms:,.1f} ms, max {summary.max_ms:,.1f} ms"
    )
