"""`v11ops audit verify|show`: the controller's hash-chained audit log (read from access.db).

Both read the file directly, so they work while the controller is down; the file is owner-only,
like admin.token, so reading it takes the rights of the controller's user.
"""

from __future__ import annotations

import json
import sqlite3
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from v11ops.cli.config import FILE_OPTION, load_or_fail
from v11ops.cli.errors import EXIT_FAILED, err_console, fail
from v11ops.security.audit import entries, verify
from v11ops.security.db import access_db_path
from v11ops.security.tokens import parse_duration

app = typer.Typer(
    help="The control API's audit log: verify the chain, show entries.", no_args_is_help=True
)
console = Console(highlight=False, soft_wrap=True)


def _log_path(file: Path) -> Path:
    path = access_db_path(load_or_fail(file, secrets=False).state_path)
    if not path.exists():
        fail(
            f"no audit log at {path}: the controller has not run on this state folder", EXIT_FAILED
        )
    return path


@app.command("verify")
def verify_command(file: Path = FILE_OPTION) -> None:
    """Check every entry's hash and link; exit 1 naming the first entry that does not fit."""
    path = _log_path(file)
    try:
        result = verify(path)
    except sqlite3.Error as exc:
        fail(f"cannot read {path}: {exc}", EXIT_FAILED)
    if not result.ok:
        fail(f"audit log {path}: {result.problem}", EXIT_FAILED)
    console.print(f"audit log intact: {result.count} entries, head {result.head}")


def parse_since(text: str) -> float:
    """An ISO 8601 time (UTC unless it says) or a duration back from now (`2h`, `7d`)."""
    try:
        return time.time() - parse_duration(text)
    except ValueError:
        pass
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"expected an ISO 8601 time (2026-11-27T15:00:00Z) or a duration (2h, 7d), got {text!r}"
        ) from None
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp()


@app.command("show")
def show(
    action: str | None = typer.Option(None, "--action", help="Only this action, e.g. deploy."),
    token: str | None = typer.Option(None, "--token", help="Only calls with this token id."),
    since: str | None = typer.Option(None, "--since", help="ISO time, or a duration ago (2h)."),
    file: Path = FILE_OPTION,
    as_json: bool = typer.Option(False, "--json", help="Print JSON lines for scripts."),
) -> None:
    """Audit entries, oldest first, filtered by action, token id and time."""
    try:
        after = None if since is None else parse_since(since)
    except ValueError as exc:
        fail(f"--since: {exc}")
    path = _log_path(file)
    selected = [
        e
        for e in entries(path)
        if (action is None or e.get("action") == action)
        and (token is None or e.get("token_id") == token)
        and (after is None or e.get("at", 0) >= after)
    ]
    if as_json:
        for e in selected:
            typer.echo(json.dumps(e, sort_keys=True))
        return
    _print_table(selected)


def _print_table(selected: list[dict[str, Any]]) -> None:
    table = Table()
    for column in ("seq", "time (UTC)", "token", "role", "action", "status", "client"):
        table.add_column(column)
    for e in selected:
        at = datetime.fromtimestamp(e["at"], UTC).strftime("%Y-%m-%d %H:%M:%S")
        cells = (e.get("token_id") or "-", e.get("role") or "-", e["action"], str(e["status"]))
        table.add_row(str(e["seq"]), at, *map(escape, cells), escape(e.get("client") or "-"))
    console.print(table)
    if not selected:
        err_console.print("no entries match (arguments and results: --json)")
