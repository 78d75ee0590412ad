"""How the CLI reports a user mistake: one line on stderr, exit code 2, never a traceback."""

from __future__ import annotations

from typing import NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from v11node.redact import redact

err_console = Console(stderr=True, highlight=False, soft_wrap=True)

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


def fail(message: str, code: int = EXIT_USAGE) -> NoReturn:
    """Print `error: message` on stderr and exit with `code` (2: usage/config, 1: failed op)."""
    err_console.print(f"[bold red]error:[/] {escape(redact(message))}")
    raise typer.Exit(code)
