"""`v11ops node run|verify|migrate|key`: the Aurigraph V11 reference node."""

from __future__ import annotations

import json
import os
import re
import socket
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console

from v11ops.cli.errors import EXIT_FAILED, fail

if TYPE_CHECKING:
    from v11node.api.keys import KeyRing

app = typer.Typer(help="Run and verify the Aurigraph V11 reference node.", no_args_is_help=True)
key_app = typer.Typer(help="Make API and admin keys for the node.", no_args_is_help=True)
app.add_typer(key_app, name="key")
console = Console(highlight=False)
_ORIGIN = re.compile(r"^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?$")
# Deprecated: plain keys in the environment. Still read (hashed at once, then removed from the
# environment so that no child process inherits them); a key file of hashes replaces them.
_LEGACY_KEY_ENV = {"api": "V11_API_KEYS", "admin": "V11_ADMIN_KEY"}


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
    max_pending: int = typer.Option(
        200_000, min=0, help="Refuse writes (503) while this many are pending; 0: no bound."
    ),
    drain_timeout: float = typer.Option(30.0, min=0, help="Seconds to finish requests on SIGTERM."),
    shutdown_delay: float = typer.Option(
        0.0, min=0, help="Seconds to keep serving (not ready) after SIGTERM before closing."
    ),
    rate_limit: float = typer.Option(0.0, min=0, help="Requests/s per client address; 0: off."),
    key_rate_limit: float = typer.Option(0.0, min=0, help="Requests/s per API key; 0: off."),
    api_keys_file: Path | None = typer.Option(
        None,
        envvar="V11_API_KEYS_FILE",
        help="File of API key hashes (lines from `node key create`); writes then need a key.",
    ),
    admin_keys_file: Path | None = typer.Option(
        None,
        envvar="V11_ADMIN_KEYS_FILE",
        help="File of admin key hashes; without one, /admin answers direct loopback calls only.",
    ),
    cors_origin: list[str] = typer.Option(
        [], "--cors-origin", help="Allow browser calls from this origin (repeat); none: no CORS."
    ),
    max_body_bytes: int = typer.Option(4 * 1024 * 1024, min=1024, help="Largest request body."),
    max_header_bytes: int = typer.Option(
        16 * 1024, min=1024, help="Largest request line plus headers (431 beyond)."
    ),
    log_file: Path | None = typer.Option(None, help="Also write the JSON log lines here."),
) -> None:
    """Run a node. Keys are configured as hashes in key files (`v11ops node key create`)."""
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
    for origin in cors_origin:
        if not _ORIGIN.match(origin):
            fail(f"--cors-origin {origin!r}: expected scheme://host[:port], e.g. https://a.example")
    api_keys = _key_ring(api_keys_file, "api")
    admin_keys = _key_ring(admin_keys_file, "admin")
    db_url = db or f"sqlite:///{data_dir.resolve() / 'ledger.db'}"
    if not db_url.startswith(("sqlite:///", "postgresql://", "postgres://")):
        fail(f"--db {db_url!r}: expected sqlite:///PATH or postgresql://HOST/DB")
    if _port_taken(host, port):
        fail(f"port {port} on {host} is already in use")
    configure_logging("aurigraph-v11-node", release, node_id, log_file)
    _forget_legacy_keys()
    settings = NodeSettings(
        db_url=db_url,
        node_id=node_id,
        release=release,
        data_dir=data_dir,
        genesis_file=genesis,
        block_interval_s=block_interval,
        lease_ttl_s=lease_ttl,
        max_batch=max_batch,
        max_pending=max_pending,
        api_keys=api_keys,
        admin_keys=admin_keys,
        rate_limit_per_s=rate_limit,
        key_rate_limit_per_s=key_rate_limit,
        cors_origins=tuple(cors_origin),
        max_body_bytes=max_body_bytes,
        max_header_bytes=max_header_bytes,
        faults=faults,
    )
    serve(settings, host, port, drain_timeout, shutdown_delay)


def _key_ring(path: Path | None, kind: str) -> KeyRing:
    """The hashes of the key file, plus those of keys left in the deprecated variable."""
    from v11node.api.keys import KeyFileError, KeyRing, load_key_file

    try:
        ring = load_key_file(path) if path is not None else KeyRing()
    except KeyFileError as exc:
        fail(str(exc))
    env = _LEGACY_KEY_ENV[kind]
    plain = tuple(k.strip() for k in os.environ.get(env, "").split(",") if k.strip())
    if not plain:
        return ring
    legacy = KeyRing.from_plain(plain, env.lower())
    return KeyRing(ring.digests + legacy.digests)


def _forget_legacy_keys() -> None:
    """Drop the deprecated plain-key variables (after logging registered them for redaction)."""
    import structlog

    for kind, env in _LEGACY_KEY_ENV.items():
        if os.environ.pop(env, None):
            structlog.get_logger("v11node.cli").warning(
                f"{env} holds plain keys (deprecated); they were hashed and removed from the"
                f" environment. Make a key file with `v11ops node key hash` and pass"
                f" --{kind}-keys-file instead",
            )


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


@key_app.command("create")
def key_create(
    name: str = typer.Option("client", help="Name of the key (letters, digits, . _ - @)."),
    admin: bool = typer.Option(False, "--admin", help="An admin key (for /admin routes)."),
    as_json: bool = typer.Option(False, "--json", help="Print key and line as JSON."),
) -> None:
    """Make a new random key: print it once, with the line for the node's key file."""
    from v11node.api.keys import hash_line, new_key

    _check_key_name(name)
    key = new_key(admin=admin)
    line = hash_line(name, key)
    option = "--admin-keys-file" if admin else "--api-keys-file"
    if as_json:
        typer.echo(json.dumps({"name": name, "admin": admin, "key": key, "line": line}))
        return
    typer.echo(f"key (shown only now; give it to the client): {key}")
    typer.echo(f"line for the node's key file ({option}):")
    typer.echo(line)


@key_app.command("hash")
def key_hash(
    name: str = typer.Option("client", help="Name of the key (letters, digits, . _ - @)."),
) -> None:
    """Read an existing key on stdin; print its line for a key file (the key is not echoed)."""
    from v11node.api.keys import hash_line

    _check_key_name(name)
    key = sys.stdin.readline().strip()
    if len(key) < 16:
        fail("expected a key of at least 16 characters on stdin")
    typer.echo(hash_line(name, key))


def _check_key_name(name: str) -> None:
    from v11node.api.keys import is_valid_name

    if not is_valid_name(name):
        fail(f"--name {name!r}: use 1 to 64 letters, digits, '.', '_', '-' or '@'")
