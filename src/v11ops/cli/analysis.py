"""`v11ops analysis test`: backtest the configured analysis templates against a recorded window."""

from __future__ import annotations

import asyncio
import json
import re
import time
from datetime import datetime
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from v11ops.analysis import BacktestError, CheckBacktest, Window, backtest
from v11ops.analysis.measurement import show
from v11ops.cli.config import FILE_OPTION, load_or_fail
from v11ops.cli.errors import EXIT_FAILED, fail
from v11ops.config import Config

app = typer.Typer(
    help="Analysis templates: see what they would have decided.", no_args_is_help=True
)
console = Console(highlight=False, soft_wrap=True)

_RELATIVE = re.compile(r"^-(\d+(?:\.\d+)?)(s|m|h|d)$")
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m|h)?$")
_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_COLOUR = {
    "successful": "green",
    "failed": "red",
    "inconclusive": "yellow",
    "error": "magenta",
    "not backtestable": "dim",
}
# The worst phase of a template's checks is the template's (live-only checks do not count).
_WORST_FIRST = ("failed", "error", "inconclusive", "successful")


def parse_time(text: str, option: str, now: float) -> float:
    """RFC 3339 (`2024-05-01T12:00:00Z`), relative (`-30m`, `-2h`, `-90s`, `-1d`) or `now`."""
    if text == "now":
        return now
    if match := _RELATIVE.match(text):
        return now - float(match[1]) * _UNIT_S[match[2]]
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is None:
        fail(
            f"{option} {text!r}: expected an RFC 3339 time with a zone "
            "(2024-05-01T12:00:00Z), a relative time (-30m, -2h) or now"
        )
    return parsed.timestamp()


def parse_step(text: str | None) -> float | None:
    """`10s`, `1m`, `500ms` or plain seconds."""
    if text is None:
        return None
    match = _DURATION.match(text)
    if not match or float(match[1]) <= 0:
        fail(f"--step {text!r}: expected a positive duration such as 10s, 1m or 500ms")
    return float(match[1]) * _UNIT_S[match[2] or "s"]


def _prometheus_url(config: Config, given: str | None) -> str:
    # Checks with their own `address` use it; the rest ask --prometheus or the monitoring stack.
    return given or f"http://{config.monitoring.prometheus.listen}"


def _template_names(config: Config, wanted: list[str] | None) -> list[str]:
    for name in wanted or []:
        if name not in config.analysis:
            fail(f"unknown template {name!r} (templates: {', '.join(config.analysis)})")
    return wanted or list(config.analysis)


@app.command("test")
def test(
    start: str = typer.Option(..., "--from", help="Start: RFC 3339, or relative (-30m, -2h)."),
    end: str = typer.Option("now", "--to", help="End: RFC 3339, relative, or now."),
    step: str | None = typer.Option(
        None, "--step", help="Between evaluation points, e.g. 10s (default: each check's interval)."
    ),
    template: list[str] | None = typer.Option(
        None, "--template", help="Only this template (repeatable; default: all)."
    ),
    candidate_slot: str | None = typer.Option(None, help="Value of {{candidate.slot}}."),
    candidate_version: str | None = typer.Option(None, help="Value of {{candidate.version}}."),
    stable_slot: str | None = typer.Option(None, help="Value of {{stable.slot}}."),
    stable_version: str | None = typer.Option(None, help="Value of {{stable.version}}."),
    prometheus: str | None = typer.Option(
        None,
        "--prometheus",
        envvar="V11OPS_PROMETHEUS_URL",
        help="Prometheus base URL (default: monitoring.prometheus.listen).",
    ),
    file: Path = FILE_OPTION,
    as_json: bool = typer.Option(False, "--json", help="Print JSON for scripts."),
) -> None:
    """Backtest: judge the prometheus checks at every step of a recorded window and print what
    each verdict would have been. Exit 1 when a query could not be evaluated."""
    config = load_or_fail(file)
    now = time.time()
    window = Window(
        parse_time(start, "--from", now), parse_time(end, "--to", now), parse_step(step)
    )
    if window.end <= window.start:
        fail("--from must be before --to")
    values = {
        "candidate.slot": candidate_slot,
        "candidate.version": candidate_version,
        "stable.slot": stable_slot,
        "stable.version": stable_version,
    }
    url = _prometheus_url(config, prometheus)
    results: dict[str, list[CheckBacktest]] = {}
    try:
        for name in _template_names(config, template):
            results[name] = asyncio.run(backtest(name, config.analysis[name], window, values, url))
    except BacktestError as exc:
        fail(str(exc))
    if as_json:
        typer.echo(json.dumps(_as_json(window, results)))
    else:
        _print(window, results)
    if any(c.phase == "error" for checks in results.values() for c in checks):
        raise typer.Exit(EXIT_FAILED)


def template_phase(checks: list[CheckBacktest]) -> str:
    """The worst phase of the backtestable checks, or `not backtestable`."""
    phases = {c.phase for c in checks}
    return next((p for p in _WORST_FIRST if p in phases), "not backtestable")


def _as_json(window: Window, results: dict[str, list[CheckBacktest]]) -> dict[str, object]:
    return {
        "from": datetime.fromtimestamp(window.start).astimezone().isoformat(),
        "to": datetime.fromtimestamp(window.end).astimezone().isoformat(),
        "step_s": window.step_s,
        "templates": {
            name: {"phase": template_phase(checks), "checks": [c.to_dict() for c in checks]}
            for name, checks in results.items()
        },
    }


def _paint(phase: str) -> str:
    return f"[{_COLOUR.get(phase, 'white')}]{escape(phase)}[/]"


def _print(window: Window, results: dict[str, list[CheckBacktest]]) -> None:
    began = datetime.fromtimestamp(window.start).astimezone().isoformat(timespec="seconds")
    ended = datetime.fromtimestamp(window.end).astimezone().isoformat(timespec="seconds")
    console.print(f"backtest from {began} to {ended}")
    for name, checks in results.items():
        console.print(f"\n[bold]template {escape(name)}[/]: {_paint(template_phase(checks))}")
        for check in checks:
            _print_check(check)


def _print_check(check: CheckBacktest) -> None:
    head = f"  {escape(check.check)} ({check.kind}): {_paint(check.phase)}"
    when = f" at {check.decided_at.astimezone():%H:%M:%S}" if check.decided_at else ""
    console.print(f"{head}{when}: {escape(check.reason)}")
    if not check.points:
        return
    console.print(f"  query: {escape(check.query)}")
    table = Table(show_edge=False, pad_edge=False)
    for column in ("time", "value", "samples", "verdict", "why"):
        table.add_column(column, overflow="fold")
    for p in check.points:
        value = "empty" if p.value is None else show(p.value)
        samples = "" if p.samples is None else str(p.samples)
        table.add_row(
            f"{p.at.astimezone():%H:%M:%S}", value, samples, _paint(p.verdict), escape(p.reason)
        )
    console.print(table)
