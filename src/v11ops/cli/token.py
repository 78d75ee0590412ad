"""`v11ops token create|list|revoke`: the control API's tokens (an admin action itself)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from v11ops.cli.config import FILE_OPTION, load_or_fail
from v11ops.cli.deploy import _call as call_controller
from v11ops.cli.errors import err_console, fail
from v11ops.security.credentials import write_token_file
from v11ops.security.tokens import Role, parse_duration

app = typer.Typer(
    help="Tokens of the controller's API: roles viewer, deployer, admin.", no_args_is_help=True
)
console = Console(highlight=False, soft_wrap=True)
JSON = typer.Option(False, "--json", help="Print JSON for scripts.")


def _when(ts: float | None, never: str = "never") -> str:
    if ts is None:
        return never
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%MZ")


@app.command("create")
def create(
    role: str = typer.Option(..., "--role", help="viewer, deployer or admin."),
    name: str | None = typer.Option(None, "--name", help="Who or what uses it (default: ROLE)."),
    expires: str | None = typer.Option(
        None, "--expires", help="Lifetime, e.g. 12h, 30d, 2w (default: no expiry)."
    ),
    output: Path | None = typer.Option(
        None, "--output", help="Write the token to this file (0600) instead of printing it."
    ),
    file: Path = FILE_OPTION,
    as_json: bool = JSON,
) -> None:
    """Create a token and print it once (it is stored only hashed)."""
    if role not in {r.value for r in Role}:
        fail(f"--role: unknown role {role!r} (roles: {', '.join(r.value for r in Role)})")
    try:
        expires_in_s = None if expires is None else parse_duration(expires)
    except ValueError as exc:
        fail(f"--expires: {exc}")
    config = load_or_fail(file, secrets=False)
    created = call_controller(config, lambda c: c.create_token(role, name, expires_in_s))
    token = created.pop("token")
    if output is not None:
        write_token_file(output, token)
    if as_json:
        typer.echo(json.dumps(created if output else {**created, "token": token}))
        return
    err_console.print(
        f"created token {created['id']} ({created['name']}, role {created['role']},"
        f" expires {_when(created['expires_at'])})"
        + (f" in {output}" if output else "; it is shown only now:")
    )
    if output is None:
        typer.echo(token)


@app.command("list")
def list_tokens(file: Path = FILE_OPTION, as_json: bool = JSON) -> None:
    """Every token: id, name, role, state, created, expires (never the secret)."""
    tokens: list[dict[str, Any]] = call_controller(
        load_or_fail(file, secrets=False), lambda c: c.tokens()
    )
    if as_json:
        typer.echo(json.dumps(tokens))
        return
    table = Table()
    for column in ("id", "name", "role", "state", "created", "expires"):
        table.add_column(column)
    for t in tokens:
        table.add_row(t["id"], t["name"], t["role"], t["state"], _when(t["created_at"]),
                      _when(t["expires_at"]))  # fmt: skip
    console.print(table)


@app.command("revoke")
def revoke(
    token_id: str = typer.Argument(..., metavar="ID", help="The token's id (see `token list`)."),
    file: Path = FILE_OPTION,
) -> None:
    """Revoke a token: it stops working at once."""
    revoked = call_controller(load_or_fail(file, secrets=False), lambda c: c.revoke_token(token_id))
    console.print(f"revoked token {revoked['id']} ({revoked['name']}, role {revoked['role']})")
