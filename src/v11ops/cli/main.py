"""Entry point of the `v11ops` command. Each noun lives in its own module and registers here."""

from __future__ import annotations

import sys

import typer
from rich.markup import escape

# Typer vendors click under a private name; these are the exceptions its parser raises.
from typer._click.exceptions import NoArgsIsHelpError, UsageError

from v11node.logging import install_redaction
from v11ops import __version__
from v11ops.cli import analysis as analysis_cli
from v11ops.cli import audit as audit_cli
from v11ops.cli import backup as backup_cli
from v11ops.cli import config as config_cli
from v11ops.cli import demo as demo_cli
from v11ops.cli import deploy as deploy_cli
from v11ops.cli import load as load_cli
from v11ops.cli import monitor as monitor_cli
from v11ops.cli import monitoring as monitoring_cli
from v11ops.cli import node as node_cli
from v11ops.cli import preflight as preflight_cli
from v11ops.cli import router as router_cli
from v11ops.cli import tls as tls_cli
from v11ops.cli import token as token_cli
from v11ops.cli.errors import EXIT_USAGE, err_console
from v11ops.runtime import PortRangeError

app = typer.Typer(
    name="v11ops",
    help="Ship and run the Aurigraph V11 node: deploy, watch, roll back, recover.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"v11ops {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """v11ops command line."""


app.add_typer(node_cli.app, name="node")
app.add_typer(backup_cli.app, name="backup")
app.add_typer(backup_cli.dr_app, name="dr")
app.add_typer(router_cli.app, name="router")
app.add_typer(tls_cli.app, name="tls")
app.add_typer(config_cli.app, name="config")
app.add_typer(analysis_cli.app, name="analysis")
app.add_typer(monitor_cli.app, name="monitor")
app.add_typer(monitoring_cli.app, name="monitoring")
app.add_typer(token_cli.app, name="token")
app.add_typer(audit_cli.app, name="audit")
config_cli.register(app)
load_cli.register(app)
deploy_cli.register(app)
demo_cli.register(app)
preflight_cli.register(app)
monitor_cli.register(app)


def main() -> None:
    """Run the CLI; a usage mistake (bad option value, missing argument) is one line, exit 2."""
    install_redaction()  # `controller run` and `node run` replace it with their JSON logs
    try:
        code = app(standalone_mode=False)
    except NoArgsIsHelpError as exc:
        typer.echo(exc.ctx.get_help() if exc.ctx else "see `v11ops --help`")
        sys.exit(EXIT_USAGE)
    except UsageError as exc:
        hint = f" (see `{exc.ctx.command_path} --help`)" if exc.ctx else ""
        err_console.print(f"[bold red]error:[/] {escape(exc.format_message())}{hint}")
        sys.exit(EXIT_USAGE)
    except typer.Abort:
        sys.exit(130)
    except PortRangeError as exc:  # an environment variable, read wherever a port is picked
        err_console.print(f"[bold red]error:[/] {escape(str(exc))}")
        sys.exit(EXIT_USAGE)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
