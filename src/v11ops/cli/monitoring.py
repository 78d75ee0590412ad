"""`v11ops monitoring ...`: render the monitoring files committed under monitoring/ from code."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
import yaml

from v11ops.cli.errors import EXIT_FAILED, fail
from v11ops.monitoring.rules import (
    ParamsError,
    load_params,
    load_slo_spec,
    outdated_files,
    render_rule_files,
    write_rule_files,
)
from v11ops.monitoring.rules.params import load_model
from v11ops.monitoring.rules.routing import AlertmanagerParams, render_alertmanager_config

app = typer.Typer(help="Monitoring as code: render rules and routing.", no_args_is_help=True)
rules_app = typer.Typer(help="Prometheus alert and recording rules.", no_args_is_help=True)
alertmanager_app = typer.Typer(help="Alertmanager routing and receivers.", no_args_is_help=True)
app.add_typer(rules_app, name="rules")
app.add_typer(alertmanager_app, name="alertmanager")
dashboards_app = typer.Typer(help="Grafana dashboards for provisioning.", no_args_is_help=True)
app.add_typer(dashboards_app, name="dashboards")

ParamsOption = Annotated[
    Path | None, typer.Option("--params", help="YAML file of parameters (default: built in).")
]
SetOption = Annotated[
    list[str] | None, typer.Option("--set", help="NAME=VALUE, overrides a parameter (repeat).")
]
CheckOption = Annotated[
    bool, typer.Option("--check", help="Write nothing; exit 1 if the files are out of date.")
]


def _overrides(pairs: list[str] | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for pair in pairs or []:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            fail(f"--set {pair!r}: expected NAME=VALUE, e.g. --set tps_target=500")
        out[name] = yaml.safe_load(value) if value else value
    return out


def _check_or_write(out: Path, files: dict[str, str], command: str) -> None:
    if outdated := outdated_files(out, files):
        for name in outdated:
            typer.echo(f"out of date: {out / name}")
        fail(f"{len(outdated)} file(s) differ from the generator; run `{command}`", EXIT_FAILED)
    typer.echo(f"up to date: {', '.join(str(out / n) for n in files)}")


@rules_app.command("render")
def render_rules(
    out: Annotated[Path, typer.Option(help="Folder to write the rule files to.")] = Path(
        "monitoring/prometheus/rules"
    ),
    slo: Annotated[Path, typer.Option(help="The SLO spec.")] = Path(
        "monitoring/prometheus/slo.yaml"
    ),
    params: ParamsOption = None,
    set_: SetOption = None,
    check: CheckOption = False,
) -> None:
    """Write the rule files (24 alerts, SLO burn-rate, backup, security, Watchdog)."""
    try:
        files = render_rule_files(load_params(params, _overrides(set_)), load_slo_spec(slo))
    except ParamsError as exc:
        fail(str(exc))
    if check:
        _check_or_write(out, files, "v11ops monitoring rules render")
        return
    for path in write_rule_files(out, files):
        typer.echo(f"wrote {path}")


@alertmanager_app.command("render")
def render_alertmanager(
    out: Annotated[Path, typer.Option(help="The config file to write.")] = Path(
        "monitoring/alertmanager/alertmanager.yml"
    ),
    params: ParamsOption = None,
    set_: SetOption = None,
    check: CheckOption = False,
) -> None:
    """Write alertmanager.yml (routes, inhibitions, receivers); templates/ stays beside it."""
    try:
        am = load_model(AlertmanagerParams, params, _overrides(set_))
    except ParamsError as exc:
        fail(str(exc))
    files = {out.name: render_alertmanager_config(am)}
    if check:
        _check_or_write(out.parent, files, "v11ops monitoring alertmanager render")
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(files[out.name])
    typer.echo(f"wrote {out}")


@dashboards_app.command("render")
def render_dashboards(
    out: Annotated[Path, typer.Option(help="Folder to write the dashboards to.")] = Path(
        "monitoring/grafana/dashboards"
    ),
    check: CheckOption = False,
) -> None:
    """Write the five Grafana dashboards from the generator (grafana-foundation-sdk)."""
    from v11ops.monitoring import dashboards  # the SDK's builders: only for this command

    if check:
        _check_or_write(out, dashboards.render(), "v11ops monitoring dashboards render")
        return
    try:
        paths = dashboards.write(out)
    except OSError as exc:
        fail(f"cannot write the dashboards to {out}: {exc.strerror or exc}")
    for path in paths:
        typer.echo(f"wrote {path}")
