"""`v11ops tls self-signed`: a certificate for local use (the router's HTTPS, tests, demos)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from v11ops.cli.errors import fail
from v11ops.tls import DEFAULT_HOSTS, CertificateError, KeyType, write_self_signed

app = typer.Typer(help="TLS certificates.", no_args_is_help=True)


@app.command("self-signed")
def self_signed(
    cert: Annotated[Path, typer.Option("--cert", help="Where to write the PEM certificate.")],
    key: Annotated[Path, typer.Option("--key", help="Where to write the PEM key (mode 0600).")],
    host: Annotated[
        list[str] | None,
        typer.Option(
            "--host", help="A DNS name or IP address (repeatable). [default: localhost, 127.0.0.1]"
        ),
    ] = None,
    days: Annotated[int, typer.Option("--days", min=1, max=3650, help="Validity in days.")] = 365,
    key_type: Annotated[
        str, typer.Option("--key-type", help="ec (P-256) or rsa (2048 bits).")
    ] = "ec",
    force: Annotated[bool, typer.Option("--force", help="Replace existing files.")] = False,
) -> None:
    """Write a self-signed certificate and its key: for local use, never for production."""
    if key_type not in ("ec", "rsa"):
        fail(f"--key-type {key_type!r} must be ec or rsa")
    kind: KeyType = "ec" if key_type == "ec" else "rsa"
    try:
        made = write_self_signed(
            cert, key, tuple(host or DEFAULT_HOSTS), days=days, key_type=kind, force=force
        )
    except CertificateError as exc:
        fail(str(exc))
    except OSError as exc:
        fail(f"cannot write {exc.filename}: {exc.strerror}")
    Console().print(
        f"wrote {escape(str(made.cert))} and {escape(str(made.key))} (0600) for "
        f"{escape(', '.join(made.hosts))}, valid until {made.not_after:%Y-%m-%d}"
    )
