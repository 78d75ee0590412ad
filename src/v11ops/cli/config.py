"""`v11ops init` and `v11ops config validate|schema`."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape

from v11ops.cli.errors import err_console, fail
from v11ops.config import (
    DEFAULT_CONFIG_PATH,
    DEFAULT_CONFIG_YAML,
    Config,
    ConfigError,
    config_json_schema,
    load_config,
    write_text_atomically,
)

app = typer.Typer(help="Validate and describe v11ops.yaml.", no_args_is_help=True)

FILE_OPTION = typer.Option(
    DEFAULT_CONFIG_PATH,
    "--file",
    "-f",
    envvar="V11OPS_CONFIG",
    help="The config file.",
    show_default=True,
)

INIT_PATH_OPTION = typer.Option(DEFAULT_CONFIG_PATH, "--path", help="Where to write it.")
FORCE_OPTION = typer.Option(False, "--force", help="Overwrite an existing file.")
JSON_OPTION = typer.Option(False, "--json", help="Print the summary as JSON.")


def load_or_fail(path: Path, *, secrets: bool = True) -> Config:
    """load_config for CLI commands: a bad file is one line on stderr and exit code 2.
    `secrets=False` for commands that only call the controller (see load_config)."""
    try:
        return load_config(path, secrets=secrets)
    except ConfigError as exc:
        fail(str(exc))


def _summary(config: Config) -> dict[str, object]:
    return {
        "file": str(config.source),
        "service": config.service.name,
        "releases": config.versions,
        "slots": {name: slot.port for name, slot in config.slots.items()},
        "router": {"kind": config.router.kind, "listen": config.router.listen},
        "smoke_checks": [check.name for check in config.gates.smoke],
        "pre_switch_hooks": [hook.name for hook in config.hooks.pre_switch],
        "state_dir": str(config.state_path),
    }


@app.command("validate")
def validate(
    file: Path = FILE_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Check the config file; print OK and a summary, or one line naming what is wrong."""
    config = load_or_fail(file)
    for warning in config.warnings():
        err_console.print(f"[yellow]warning:[/] {escape(warning)}", soft_wrap=True)
    summary = _summary(config)
    if as_json:
        typer.echo(json.dumps({"ok": True, **summary, "warnings": config.warnings()}))
        return
    out = Console(highlight=False, soft_wrap=True)
    out.print(f"[green]OK[/] {escape(str(file))}: service {escape(config.service.name)}")
    out.print(f"  releases: {', '.join(config.versions)}")
    slots = ", ".join(f"{name}:{slot.port}" for name, slot in config.slots.items())
    out.print(f"  slots: {slots}")
    out.print(f"  router: {config.router.kind} on {config.router.listen}")
    checks = ", ".join(check.name for check in config.gates.smoke) or "none"
    out.print(f"  smoke checks: {escape(checks)}")
    out.print(f"  state dir: {escape(str(config.state_path))}")


@app.command("schema")
def schema() -> None:
    """Print the JSON Schema of v11ops.yaml (point your editor's YAML plugin at it)."""
    typer.echo(json.dumps(config_json_schema(), indent=2))


def register(root: typer.Typer) -> None:
    """Register top-level commands (`init`)."""

    @root.command("init")
    def init(
        path: Path = INIT_PATH_OPTION,
        force: bool = FORCE_OPTION,
    ) -> None:
        """Write a commented default v11ops.yaml that deploys the Aurigraph V11 node."""
        if path.exists() and not force:
            fail(f"{path} already exists; pass --force to overwrite it")
        write_text_atomically(path, DEFAULT_CONFIG_YAML)
        typer.echo(f"wrote {path}: the V11 node, releases 1.0.0, 1.1.0 and 1.2.0 (bad on purpose)")
        typer.echo(f"next: v11ops config validate --file {path}")
