"""`v11ops monitor up|down|status` (the local Prometheus, Alertmanager, node-exporter) and
`v11ops alerts` (what Alertmanager holds)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from v11ops.cli.config import FILE_OPTION, load_or_fail
from v11ops.cli.errors import EXIT_FAILED, EXIT_USAGE, err_console, fail
from v11ops.config import ConfigError
from v11ops.monitoring import stack
from v11ops.monitoring.stack import ComponentStatus, MonitoringConfigError, MonitoringError

app = typer.Typer(
    help="The local monitoring stack: Prometheus, Alertmanager, node-exporter.",
    no_args_is_help=True,
)
console = Console(highlight=False, soft_wrap=True)
JSON = typer.Option(False, "--json", help="Print JSON for scripts.")
T = TypeVar("T")


def _guard(call: Callable[[], T]) -> T:
    """A config mistake is exit 2; a component that is missing or will not run is exit 1."""
    try:
        return call()
    except (MonitoringConfigError, ConfigError) as exc:
        fail(str(exc), EXIT_USAGE)
    except MonitoringError as exc:
        fail(str(exc), EXIT_FAILED)


@app.command("up")
def up(file: Path = FILE_OPTION, as_json: bool = JSON) -> None:
    """Start (or update) the stack on loopback with configs rendered into the state folder."""
    config = load_or_fail(file)
    with err_console.status("starting Prometheus, Alertmanager and node-exporter"):
        statuses = _guard(lambda: stack.up(config))
    _print(statuses, as_json)
    if not as_json:
        console.print(f"configs and targets in {stack.Layout.of(config).root}")


@app.command("down")
def down(file: Path = FILE_OPTION) -> None:
    """Stop the stack (its data stays for the next `up`)."""
    config = load_or_fail(file, secrets=False)
    stopped = _guard(lambda: stack.down(config))
    console.print(f"[green]stopped[/] {', '.join(stopped)}" if stopped else "nothing was running")


@app.command("status")
def status(file: Path = FILE_OPTION, as_json: bool = JSON) -> None:
    """Each component with its health (Prometheus and Alertmanager /-/ready). Exit 1 unless all
    are healthy."""
    config = load_or_fail(file, secrets=False)
    statuses = _guard(lambda: stack.status(config))
    _print(statuses, as_json)
    if not all(s.healthy for s in statuses):
        raise typer.Exit(EXIT_FAILED)


def _print(statuses: list[ComponentStatus], as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps([s.to_json() for s in statuses]))
        return
    table = Table()
    for col in ("component", "url", "pid", "state", "health", "detail"):
        table.add_column(col)
    for s in statuses:
        state = s.action or ("running" if s.running else "stopped")
        health = "[green]ready[/]" if s.healthy else "[red]not ready[/]"
        table.add_row(s.name, s.url, str(s.pid or "-"), state, health, s.detail)
    console.print(table)


def alerts(
    file: Path = FILE_OPTION,
    include_all: bool = typer.Option(False, "--all", help="Also silenced and inhibited ones."),
    as_json: bool = JSON,
) -> None:
    """The alerts firing now, from Alertmanager; most severe first."""
    config = load_or_fail(file, secrets=False)
    found = _guard(lambda: stack.firing_alerts(config, include_suppressed=include_all))
    if as_json:
        typer.echo(json.dumps(found))
        return
    if not found:
        console.print("no alerts firing")
        return
    table = Table()
    for col in ("alert", "severity", "priority", "slot", "version", "instance", "since", "summary"):
        table.add_column(col)
    for alert in found:
        labels: dict[str, Any] = alert.get("labels", {})
        cells = [labels.get(k, "") for k in ("alertname", "severity", "priority", "slot",
                                              "version", "instance")]  # fmt: skip
        summary = alert.get("annotations", {}).get("summary", "")
        table.add_row(*cells, _since(alert.get("startsAt", "")), summary)
    console.print(table)


def _since(timestamp: str) -> str:
    try:
        return datetime.fromisoformat(timestamp).astimezone().strftime("%H:%M:%S")
    except ValueError:
        return timestamp


def register(root: typer.Typer) -> None:
    root.command("alerts")(alerts)
