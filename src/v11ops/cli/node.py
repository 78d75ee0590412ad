"""`v11ops node run|verify`: the Aurigraph V11 reference node."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import typer
from rich.console import Console

from v11ops.cli.errors import EXIT_FAILED, fail

app = typer.Typer(help="Run and verify the Aurigraph V11 reference node.", no_args_is_help=True)
console = Console(highlight=False)


def _keys(raw: str | None) -> tuple[str, ...]:
    return tuple(k.strip() for k in (raw or "").split(",") if k.strip())


@app.command("run")
def run(
    port: int = typer.Option(9003, min=1, max=65535, help="HTTP port (blue 9003, green 9004)."),
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
    db: str | None = typer.Option(
        None, help="sqlite:///PATH or postgresql://HOST/DB (default: SQLite in --data-dir)."
    ),
    data_dir: Path = typer.Option(Path(".v11node"), help="Directory for the SQLite file and logs."),
    node_id: str | None = typer.Option(None, help="Node id (default: HOSTNAME-PORT)."),
    release: str | None = typer.Option(None, help="Release version reported by /api/v11/info."),
    genesis: Path | None = typer.Option(None, help="Genesis file (default: the dev accounts)."),
    block_interval: float = typer.Option(0.25, min=0.01, help="Seconds between blocks."),
    lease_ttl: float = typer.Option(2.0, min=0.2, help="Producer lease time-to-live, seconds."),
    max_batch: int = typer.Option(1000, min=1, help="Most transactions in one request."),
    drain_timeout: float = typer.Option(30.0, min=0, help="Seconds to finish requests on SIGTERM."),
    shutdown_delay: float = typer.Option(
        0.0, min=0, help="Seconds to keep serving (not ready) after SIGTERM before closing."
    ),
    rate_limit: float = typer.Option(0.0, min=0, help="Requests/s per client address; 0: off."),
    log_file: Path | None = typer.Option(None, help="Also write the JSON log lines here."),
) -> None:
    """Run a node. API keys: V11_API_KEYS (comma-separated); admin key: V11_ADMIN_KEY."""
    from v11node import __version__
    from v11node.faults import FaultConfigError, faults_from_env
    from v11node.ledger.accounts import GenesisError, load_genesis
    from v11node.logging import configure_logging
    from v11node.node import NodeSettings
    from v11node.server import serve

    node_id = node_id or f"{socket.gethostname()}-{port}"
    release = release or __version__
    try:
        faults = faults_from_env()
        if genesis is not None:
            load_genesis(genesis)  # fail now, with the file named, rather than after startup
    except (FaultConfigError, GenesisError) as exc:
        fail(str(exc))
    db_url = db or f"sqlite:///{data_dir.resolve() / 'ledger.db'}"
    if not db_url.startswith(("sqlite:///", "postgresql://", "postgres://")):
        fail(f"--db {db_url!r}: expected sqlite:///PATH or postgresql://HOST/DB")
    if _port_taken(host, port):
        fail(f"port {port} on {host} is already in use")
    configure_logging("aurigraph-v11-node", release, node_id, log_file)
    settings = NodeSettings(
        db_url=db_url,
        node_id=node_id,
        release=release,
        data_dir=data_dir,
        genesis_file=genesis,
        block_interval_s=block_interval,
        lease_ttl_s=lease_ttl,
        max_batch=max_batch,
        api_keys=_keys(os.environ.get("V11_API_KEYS")),
        admin_key=os.environ.get("V11_ADMIN_KEY") or None,
        rate_limit_per_s=rate_limit,
        faults=faults,
    )
    serve(settings, host, port, drain_timeout, shutdown_delay)


def _port_taken(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return True
    return False


@app.command("verify")
def verify(
    db: str = typer.Option(..., help="sqlite:///PATH or postgresql://HOST/DB"),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Recompute every block hash, merkle root, signature and balance; exit 1 on a mismatch."""
    from v11node.ledger.verify import verify_chain
    from v11node.storage import StorageError, open_storage

    if db.startswith("sqlite:///") and not Path(db.removeprefix("sqlite:///")).exists():
        fail(f"--db {db!r}: no such database file")
    try:
        storage = open_storage(db)
    except StorageError as exc:
        fail(str(exc))
    try:
        report = verify_chain(storage)
    finally:
        storage.close()
    if as_json:
        typer.echo(json.dumps(report.to_json()))
    elif report.ok:
        console.print(
            f"[green]chain OK[/]: height {report.height}, {report.transactions} transactions,"
            f" tip {report.tip_hash}"
        )
    else:
        console.print(f"[red]chain INVALID[/] at height {report.height}: {report.problem}")
    if not report.ok:
        raise typer.Exit(EXIT_FAILED)


@app.command("migrate")
def migrate(
    db: str = typer.Option(..., help="sqlite:///PATH or postgresql://HOST/DB"),
    to: int | None = typer.Option(None, "--to", min=1, help="Target version (default: newest)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Only say what would be applied."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Apply the ledger schema's forward migrations (there are no down migrations)."""
    from v11node.storage import StorageError, open_storage
    from v11node.storage.migrations import (
        LATEST_VERSION,
        MigrationReport,
        check_target,
        current_version,
        pending,
    )
    from v11node.storage.migrations import migrate as apply

    if db.startswith("sqlite:///") and not Path(db.removeprefix("sqlite:///")).exists():
        fail(f"--db {db!r}: no such database file")
    try:
        storage = open_storage(db)
    except StorageError as exc:
        fail(str(exc))
    try:
        current = current_version(storage)
        target = LATEST_VERSION if to is None else to
        check_target(current, target)
        if dry_run:
            report = MigrationReport(current, target, pending(current, target))
        else:
            report = apply(storage, target)
    except StorageError as exc:
        fail(str(exc))
    finally:
        storage.close()
    if as_json:
        typer.echo(json.dumps({**report.to_json(), "dryRun": dry_run}))
        return
    verb = "would apply" if dry_run else "applied"
    for m in report.applied:
        console.print(f"  {verb} {m.version}: {m.description}")
    console.print(f"schema {report.from_version} -> {report.to_version}")
