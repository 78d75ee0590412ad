"""Entry point of the `v11ops` command. Each noun lives in its own module and registers here."""

from __future__ import annotations

import typer

from v11ops import __version__
from v11ops.cli import config as config_cli
from v11ops.cli import demo as demo_cli
from v11ops.cli import deploy as deploy_cli
from v11ops.cli import load as load_cli
from v11ops.cli import node as node_cli
from v11ops.cli import router as router_cli

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
app.add_typer(router_cli.app, name="router")
app.add_typer(config_cli.app, name="config")
config_cli.register(app)
load_cli.register(app)
deploy_cli.register(app)
demo_cli.register(app)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
