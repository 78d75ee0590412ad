"""`v11ops demo`: the main job of the README, on embedded defaults."""

from __future__ import annotations

import sys
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from v11ops.cli.errors import EXIT_FAILED

# Wide enough for the summary table when the output is a file or a pipe (Rich's default is 80).
console = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 140)


def demo(
    keep: Path | None = typer.Option(
        None, "--keep", help="Run in this folder and keep it (logs, state) afterwards."
    ),
) -> None:
    """Deploy a good and a bad release of the node under load; show zero drops and the rollback."""
    from v11ops.deploy.demo import DemoResult, run_demo

    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
    result: DemoResult = run_demo(keep.resolve() if keep else None, say=_say)
    _print(result)
    if not result.ok:
        for problem in result.problems:
            console.print(f"[red]problem:[/] {problem}")
        raise typer.Exit(EXIT_FAILED)
    console.print(
        "[bold green]demo passed[/]: zero failed requests during the good deploy,"
        " bad release rolled back, every acknowledged transaction is in the chain"
    )


def _say(message: str) -> None:
    console.print(f"[dim]>[/] {message}")


def _print(result: object) -> None:
    from v11ops.deploy.demo import DemoResult

    assert isinstance(result, DemoResult)
    table = Table(title="deployments")
    for col in ("release", "outcome", "took", "gates+switch", "window", "requests", "failed",
                "rollback"):  # fmt: skip
        table.add_column(col)
    for p in result.phases:
        gates = sum(p.steps.get(s, 0.0) for s in ("start", "readiness", "smoke", "pre_switch",
                                                   "switch"))  # fmt: skip
        rollback = (
            f"{p.rollback_ms:.1f} ms (bad switch to good: {p.bad_to_good_s:.1f}s)"
            if p.rollback_ms is not None and p.bad_to_good_s is not None
            else "-"
        )
        color = "green" if p.status == p.expected else "red"
        table.add_row(p.version, f"[{color}]{p.status}[/]", f"{p.took_s:.1f}s", f"{gates:.1f}s",
                      f"{p.steps.get('post_switch_window', 0.0):.1f}s", str(p.requests),
                      str(p.failed), rollback)  # fmt: skip
    console.print(table)
    if result.load is not None:
        lr = result.load
        console.print(
            f"load: {lr.achieved_tps:.0f} tx/s achieved ({lr.offered_tps:.0f} offered),"
            f" {lr.accepted} transactions acknowledged, errors {lr.errors or 'none'},"
            f" p99 {lr.latency.p99_ms:.1f} ms"
        )
    console.print(
        f"ledger: {result.acknowledged} acknowledged, {result.missing} missing,"
        f" {result.pending} pending; chain height {result.chain_height},"
        f" verifies: {'yes' if result.chain_ok else 'NO: ' + str(result.chain_problem)}"
    )


def register(root: typer.Typer) -> None:
    root.command("demo")(demo)
