"""`v11ops preflight`: the pre-deployment checklist, a table for people or JSON for scripts."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from v11ops.cli.config import FILE_OPTION, load_or_fail
from v11ops.cli.errors import EXIT_FAILED, err_console
from v11ops.preflight import (
    GATE_REPORT_ENV,
    GATE_REPORT_PATH,
    GIB,
    MIN_CERTIFICATE_DAYS,
    PROMETHEUS_URL_ENV,
    DiskThresholds,
    PreflightOptions,
    PreflightReport,
    Status,
    run_preflight,
)

console = Console(highlight=False, soft_wrap=True)

_STYLE = {Status.PASS: "green", Status.FAIL: "bold red", Status.SKIP: "yellow"}


def preflight(
    file: Path = FILE_OPTION,
    version: str | None = typer.Option(
        None, "--version", help="The release about to be deployed: listed, and gated."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON for scripts."),
    skip_gate: bool = typer.Option(False, "--skip-gate", help="Do not require a gate report."),
    gate_report: Path = typer.Option(
        GATE_REPORT_PATH, envvar=GATE_REPORT_ENV, help="The gate report `nox -s gate` wrote."
    ),
    tls_cert: list[Path] = typer.Option(
        [], "--tls-cert", help="A PEM certificate to check besides router.tls.cert (repeatable)."
    ),
    prometheus_url: str | None = typer.Option(
        None, envvar=PROMETHEUS_URL_ENV, help="Prometheus base URL; unset: monitoring skipped."
    ),
    min_free_gib: float = typer.Option(1.0, min=0, help="Free space wanted on the state disk."),
    min_free_percent: float = typer.Option(10.0, min=0, max=100, help="Free share wanted (%)."),
    max_backup_age_hours: float = typer.Option(24.0, min=0, help="Newest verified backup age."),
    min_cert_days: float = typer.Option(
        MIN_CERTIFICATE_DAYS, min=0, help="Certificates must stay valid longer than this."
    ),
) -> None:
    """Check that a deploy may start: gate, backup, TLS, monitoring, disk, release, lock.

    Exit 0 when nothing failed (skips are fine), 1 when a check failed, 2 for a bad config.
    """
    config = load_or_fail(file)
    options = PreflightOptions(
        version=version,
        gate_report=gate_report,
        skip_gate=skip_gate,
        tls_certs=tuple(tls_cert),
        prometheus_url=prometheus_url,
        disk=DiskThresholds(round(min_free_gib * GIB), min_free_percent / 100),
        max_backup_age=timedelta(hours=max_backup_age_hours),
        min_certificate_days=min_cert_days,
    )
    if as_json:
        report = run_preflight(config, options)
        typer.echo(json.dumps(report.to_json()))
    else:
        # The controller and Prometheus are asked over the network: up to a few seconds.
        with err_console.status("running the preflight checks"):
            report = run_preflight(config, options)
        _print(report, config.service.name)
    if not report.ok:
        raise typer.Exit(EXIT_FAILED)


def _print(report: PreflightReport, service: str) -> None:
    target = f"release {report.version}" if report.version else "no --version"
    table = Table(title=f"preflight: {escape(service)}, {escape(target)}")
    for column in ("check", "result", "reason"):
        table.add_column(column)
    for check in report.checks:
        style = _STYLE[check.status]
        label = f"[{style}]{str(check.status).upper()}[/]"
        table.add_row(check.title, label, escape(check.reason))
    console.print(table)
    failed, skipped = report.count(Status.FAIL), report.count(Status.SKIP)
    if failed:
        console.print(f"[bold red]not ready to deploy[/]: {failed} of {len(report.checks)} "
                      f"checks failed, {skipped} skipped")  # fmt: skip
    else:
        console.print(f"[green]ready to deploy[/]: no check failed, {skipped} skipped")


def register(root: typer.Typer) -> None:
    """Add the top-level `preflight` command."""
    root.command("preflight")(preflight)
