"""`v11ops backup create|list|verify|restore|prune|drill|wal-push|wal-get|schedule`."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from v11ops.cli.config import FILE_OPTION, load_or_fail
from v11ops.cli.errors import EXIT_FAILED, fail
from v11ops.config import DEFAULT_CONFIG_PATH, Config

if TYPE_CHECKING:
    from v11ops.backup.dr import DrReport
    from v11ops.backup.settings import Settings

app = typer.Typer(
    help="Encrypted, verified backups of the ledger and of v11ops itself; restore drills.",
    no_args_is_help=True,
)
console = Console(highlight=False, soft_wrap=True)
T = TypeVar("T")

REPO = typer.Option(None, "--repo", help="Backup repository folder (default: backup.repo).")
KEY_FILE = typer.Option(
    None, "--key-file", help="File with the 64-hex-character key (default: V11OPS_BACKUP_KEY)."
)
ID = typer.Option(None, "--id", help="A backup id (default: the newest complete backup).")
JSON = typer.Option(False, "--json", help="Print JSON for scripts.")
METRICS_DIR = typer.Option(
    None, "--metrics-dir", help="Textfile-collector folder for the .prom file (default: config)."
)


def _config(file: Path) -> Config | None:
    """The config file, when there is one: without it every option must be given."""
    if file == DEFAULT_CONFIG_PATH and not file.exists():
        return None
    return load_or_fail(file)


def _run(work: Callable[[], T]) -> T:
    """A backup error is one line: exit 2 for a usage mistake, 1 for a failed operation."""
    from v11ops.backup import BackupError

    try:
        return work()
    except BackupError as exc:
        fail(str(exc), exc.exit_code)


def _settings(file: Path, **options: Any) -> Settings:
    from v11ops.backup.settings import resolve

    return _run(lambda: resolve(_config(file), **options))


def _size(n: float) -> str:
    if n < 1024:
        return f"{n:.0f} B"
    for unit in ("KiB", "MiB"):
        n /= 1024
        if n < 1024:
            return f"{n:.1f} {unit}"
    return f"{n / 1024:.1f} GiB"


def _metrics(settings: Settings) -> None:
    from v11ops.backup.metrics import write_metrics

    write_metrics(settings.repo, settings.metrics_dir)


@app.command("create")
def create(
    db: str | None = typer.Option(None, "--db", help="sqlite:///PATH or postgresql://HOST/DB."),
    repo: Path | None = REPO,
    key_file: Path | None = KEY_FILE,
    encrypt: bool | None = typer.Option(
        None, "--encrypt/--no-encrypt", help="AES-256-GCM (default: backup.encrypt, on)."
    ),
    base: bool = typer.Option(
        False, "--base", help="PostgreSQL: a pg_basebackup for point-in-time recovery."
    ),
    app_files: bool | None = typer.Option(
        None, "--app/--no-app", help="Include the config and controller state (default: on)."
    ),
    reason: str = typer.Option("manual", "--reason", help="Recorded in the manifest."),
    metrics_dir: Path | None = METRICS_DIR,
    file: Path = FILE_OPTION,
    as_json: bool = JSON,
) -> None:
    """Back up the ledger (and v11ops' own files); the manifest is written last."""
    from v11ops.backup.create import BackupRequest, create_backup
    from v11ops.backup.pitr import create_base_backup

    s = _settings(
        file,
        db=db,
        repo=repo,
        key_file=key_file,
        encrypt=encrypt,
        metrics_dir=metrics_dir,
        app=app_files,
    )
    url = _run(s.need_db)
    if base:
        if not url.startswith(("postgresql://", "postgres://")):
            fail("--base is for PostgreSQL (pg_basebackup); a SQLite backup is always full")
        manifest = _run(lambda: create_base_backup(url, s.repo, s.key, s.encrypt, s.level))
    else:
        request = BackupRequest(
            db=url,
            repo=s.repo,
            key=s.key,
            encrypt=s.encrypt,
            level=s.level,
            app=s.app,
            reason=reason,
        )
        manifest = _run(lambda: create_backup(request))
    _metrics(s)
    if as_json:
        typer.echo(manifest.model_dump_json(by_alias=True))
        return
    took = (manifest.completed_at - manifest.created_at).total_seconds()
    ledger = manifest.ledger
    where = f", ledger height {ledger.height} tip {ledger.tip_hash[:16]}.." if ledger else ""
    lock = (
        f"encrypted (key id {manifest.encryption.key_id})"
        if manifest.encryption
        else "NOT encrypted"
    )
    console.print(
        f"[green]backup {manifest.id}[/]: {_size(manifest.size_bytes)} in {took:.1f}s{where};"
        f" {lock}; in {s.repo / manifest.id}"
    )


@app.command("list")
def list_backups(
    repo: Path | None = REPO,
    key_file: Path | None = KEY_FILE,
    file: Path = FILE_OPTION,
    as_json: bool = JSON,
) -> None:
    """Every backup with its status; only `complete` ones can be restored."""
    from v11ops.backup.manifest import scan

    s = _settings(file, repo=repo, key_file=key_file)
    entries = _run(lambda: scan(s.repo, s.key))
    if as_json:
        typer.echo(json.dumps([_entry_json(e) for e in entries]))
        return
    table = Table(title=f"backups in {s.repo}")
    table.add_column("id", no_wrap=True)
    table.add_column("status", no_wrap=True)
    for col in ("kind", "created (UTC)", "size", "height", "encrypted", "last drill"):
        table.add_column(col)
    for e in entries:
        m = e.manifest
        color = "green" if e.usable else "red"
        if m is None:
            table.add_row(e.id, f"[{color}]{e.status}[/]", *["-"] * 6)
            continue
        drill = m.last_drill
        drilled = (
            "-"
            if drill is None
            else f"{'passed' if drill.ok else 'FAILED'} {drill.duration_s:.1f}s"
        )
        table.add_row(
            e.id,
            f"[{color}]{e.status}[/]",
            m.kind,
            f"{m.created_at:%Y-%m-%d %H:%M:%S}",
            _size(m.size_bytes),
            str(m.ledger.height) if m.ledger else "-",
            "yes" if m.encrypted else "NO",
            drilled,
        )
    console.print(table)
    for e in entries:
        if not e.usable:
            console.print(f"[red]{e.id}[/] is {e.status}: {e.problem}")
        elif e.manifest and e.manifest.encrypted and not e.authenticated:
            console.print(f"{e.id}: manifest not authenticated (give the key to check its MAC)")


def _entry_json(e: Any) -> dict[str, Any]:
    m = e.manifest
    return {
        "id": e.id,
        "status": str(e.status),
        "usable": e.usable,
        "authenticated": e.authenticated,
        "problem": e.problem,
        "manifest": m.model_dump(mode="json", by_alias=True) if m else None,
    }


@app.command("verify")
def verify(
    repo: Path | None = REPO,
    backup_id: str | None = typer.Option(None, "--id", help="One backup (default: all)."),
    key_file: Path | None = KEY_FILE,
    metrics_dir: Path | None = METRICS_DIR,
    file: Path = FILE_OPTION,
    as_json: bool = JSON,
) -> None:
    """Re-check every checksum and decrypt and decompress every file; exit 1 on any damage."""
    from v11ops.backup import BackupError, BackupUsageError
    from v11ops.backup.manifest import Status, scan
    from v11ops.backup.restore import verify_entry

    s = _settings(file, repo=repo, key_file=key_file, metrics_dir=metrics_dir)
    entries = _run(lambda: scan(s.repo, s.key))
    if backup_id is not None:
        entries = [e for e in entries if e.id == backup_id]
        if not entries:
            fail(f"no backup {backup_id!r} in {s.repo}")
    results: list[dict[str, Any]] = []
    for e in entries:
        if e.status == Status.INCOMPLETE:
            results.append({"id": e.id, "ok": None, "problem": e.problem})
            continue
        try:
            checks = verify_entry(e, s.key, record_in=s.repo)
            results.append({"id": e.id, "ok": True, "files": [c.__dict__ for c in checks]})
        except BackupUsageError as exc:
            fail(str(exc), exc.exit_code)
        except BackupError as exc:
            results.append({"id": e.id, "ok": False, "problem": str(exc)})
    _metrics(s)
    failed = [r for r in results if r["ok"] is False]
    if as_json:
        typer.echo(json.dumps(results))
    else:
        for r in results:
            mark = {True: "[green]ok[/]", False: "[red]FAILED[/]", None: "[yellow]skipped[/]"}
            note = r.get("problem") or f"{len(r['files'])} files, checksums and decryption ok"
            console.print(f"{mark[r['ok']]} {r['id']}: {note}")
        if not results:
            console.print(f"no backups in {s.repo}")
    if failed:
        raise typer.Exit(EXIT_FAILED)


@app.command("restore")
def restore(
    to: str | None = typer.Option(None, "--to", help="Restore the ledger into this database URL."),
    app_to: Path | None = typer.Option(
        None, "--app-to", help="Restore the config file and controller state into this folder."
    ),
    datadir: Path | None = typer.Option(
        None, "--datadir", help="PostgreSQL base backup: prepare this empty data directory."
    ),
    target_time: datetime | None = typer.Option(
        None,
        "--target-time",
        help="With --datadir: recover to this moment (ISO 8601, UTC if"
        " no zone); default: the end of the WAL archive.",
    ),
    pg_command: str | None = typer.Option(
        None,
        "--v11ops-command",
        help="With --datadir: how the PostgreSQL server runs v11ops"
        " in restore_command (default: this interpreter, `-m v11ops.backup`).",
    ),
    force: bool = typer.Option(False, "--force", help="Replace a non-empty target."),
    repo: Path | None = REPO,
    backup_id: str | None = ID,
    key_file: Path | None = KEY_FILE,
    file: Path = FILE_OPTION,
    as_json: bool = JSON,
) -> None:
    """Restore a backup into an empty target, then verify the chain (`v11ops node verify`)."""
    from v11ops.backup.manifest import pick, scan
    from v11ops.backup.pitr import restore_pitr
    from v11ops.backup.restore import restore_app, restore_ledger

    if to is None and app_to is None and datadir is None:
        fail("nothing to restore into: give --to URL, --app-to DIR or --datadir DIR")
    if datadir is not None and (to or app_to):
        fail("--datadir (a PostgreSQL base backup) cannot be combined with --to or --app-to")
    s = _settings(file, repo=repo, key_file=key_file)
    entries = _run(lambda: scan(s.repo, s.key))
    if datadir is not None:
        entry = _run(lambda: pick(entries, backup_id, kind="pg_base"))
        when = target_time.replace(tzinfo=target_time.tzinfo or UTC) if target_time else None
        plan = _run(
            lambda: restore_pitr(entry, s.key, s.repo, datadir, when, s.key_file, pg_command)
        )
        console.print(
            f"[green]{datadir} prepared[/] from base backup {entry.id}; recovery target:"
            f" {when.isoformat() if when else 'end of the WAL archive'}. Start PostgreSQL on it"
            " (pg_ctl -D DIR start): it replays the archived WAL, stops at the target and promotes."
        )
        if plan.target_time is None:
            console.print("its restore_command: " + plan.restore_command)
        return
    entry = _run(lambda: pick(entries, backup_id, kind="logical"))
    out: dict[str, Any] = {"backup": entry.id}
    if app_to is not None:
        written = _run(lambda: restore_app(entry, s.key, app_to, None, force))
        out["app"] = [str(p) for p in written]
        if not as_json:
            console.print(f"[green]restored[/] {len(written)} application files into {app_to}")
    if to is not None:
        url = to
        report = _run(lambda: restore_ledger(entry, s.key, url, force))
        out["ledger"] = report.to_json()
        if not as_json:
            chain = report.chain
            color = "green" if report.ok else "red"
            console.print(
                f"[{color}]ledger restored[/] from {entry.id} in {report.restore_s:.1f}s; verified"
                f" in {report.verify_s:.1f}s: height {chain.height}, tip {chain.tip_hash[:16]}..,"
                f" {chain.transactions} transactions"
                + ("" if report.ok else f"; [red]{report.problem}[/]")
            )
        if not report.ok:
            if as_json:
                typer.echo(json.dumps(out))
            raise typer.Exit(EXIT_FAILED)
    if as_json:
        typer.echo(json.dumps(out))


@app.command("prune")
def prune(
    repo: Path | None = REPO,
    keep_last: int | None = typer.Option(None, min=1, help="Default: backup.retention."),
    keep_daily: int | None = typer.Option(None, min=0),
    keep_weekly: int | None = typer.Option(None, min=0),
    keep_monthly: int | None = typer.Option(None, min=0),
    dry_run: bool = typer.Option(False, "--dry-run", help="Only say what would be deleted."),
    key_file: Path | None = KEY_FILE,
    metrics_dir: Path | None = METRICS_DIR,
    file: Path = FILE_OPTION,
    as_json: bool = JSON,
) -> None:
    """Keep the last N plus daily, weekly and monthly backups, and the newest drilled one."""
    from dataclasses import replace

    from v11ops.backup.prune import prune as run_prune

    s = _settings(file, repo=repo, key_file=key_file, metrics_dir=metrics_dir)
    overrides = {
        k: v
        for k, v in (
            ("keep_last", keep_last),
            ("keep_daily", keep_daily),
            ("keep_weekly", keep_weekly),
            ("keep_monthly", keep_monthly),
        )
        if v is not None
    }
    policy = replace(s.retention, **overrides)
    report = _run(lambda: run_prune(s.repo, policy, s.key, dry_run))
    _metrics(s)
    if as_json:
        typer.echo(json.dumps({**report.to_json(), "dryRun": dry_run}))
        return
    verb = "would delete" if dry_run else "deleted"
    for backup_id, why in sorted(report.kept.items()):
        console.print(f"  keep   {backup_id}: {', '.join(why)}")
    for backup_id in report.deleted:
        console.print(f"  {verb} {backup_id}")
    for backup_id in report.unfinished:
        console.print(f"  {verb} {backup_id} (unfinished)")
    for backup_id in report.corrupt:
        console.print(f"  [red]corrupt[/] {backup_id}: kept, inspect and delete it by hand")
    if report.wal_deleted:
        console.print(f"  {verb} {report.wal_deleted} archived WAL files older than every base")


@app.command("drill")
def drill(
    repo: Path | None = REPO,
    backup_id: str | None = ID,
    key_file: Path | None = KEY_FILE,
    scratch_url: str | None = typer.Option(
        None, "--scratch-url", help="PostgreSQL server for the scratch database (admin URL)."
    ),
    signatures: bool = typer.Option(
        False, "--signatures", help="Also re-verify every Ed25519 signature (slower)."
    ),
    metrics_dir: Path | None = METRICS_DIR,
    file: Path = FILE_OPTION,
    as_json: bool = JSON,
) -> None:
    """Restore the newest backup into a scratch database, verify it, and time it (RTO)."""
    from v11ops.backup.drill import run_drill

    s = _settings(file, repo=repo, key_file=key_file, metrics_dir=metrics_dir)
    pg = scratch_url or s.scratch_url or (s.db if s.db and not s.db.startswith("sqlite") else None)
    report = _run(
        lambda: run_drill(s.repo, s.key, backup_id, pg_admin_url=pg, signatures=signatures)
    )
    _metrics(s)
    if as_json:
        typer.echo(json.dumps(report.to_json()))
    elif report.ok and report.restore is not None:
        chain = report.restore.chain
        console.print(
            f"[green]drill passed[/]: backup {report.backup_id} restored and verified in"
            f" {report.duration_s:.2f}s (restore {report.restore.restore_s:.2f}s, verify"
            f" {report.restore.verify_s:.2f}s{', signatures too' if signatures else ''}): height"
            f" {chain.height}, tip {chain.tip_hash[:16]}.. as in the manifest"
        )
    else:
        console.print(f"[red]drill FAILED[/] for backup {report.backup_id}: {report.problem}")
    if not report.ok:
        raise typer.Exit(EXIT_FAILED)


@app.command("wal-push")
def wal_push(
    segment: Path = typer.Argument(..., help="The WAL file (archive_command's %p)."),
    repo: Path | None = REPO,
    key_file: Path | None = KEY_FILE,
    encrypt: bool | None = typer.Option(None, "--encrypt/--no-encrypt"),
    metrics_dir: Path | None = METRICS_DIR,
    file: Path = FILE_OPTION,
) -> None:
    """PostgreSQL archive_command: store one finished WAL segment in the repository."""
    from v11ops.backup.pitr import wal_push as push

    s = _settings(file, repo=repo, key_file=key_file, encrypt=encrypt, metrics_dir=metrics_dir)
    if not segment.is_file():
        fail(f"{segment}: no such WAL file")
    _run(lambda: push(s.repo, segment, s.key, s.encrypt, s.level))
    _metrics(s)


@app.command("wal-get")
def wal_get(
    name: str = typer.Argument(..., help="The WAL file name (restore_command's %f)."),
    dest: Path = typer.Argument(..., help="Where to write it (restore_command's %p)."),
    repo: Path | None = REPO,
    key_file: Path | None = KEY_FILE,
    file: Path = FILE_OPTION,
) -> None:
    """PostgreSQL restore_command: fetch one archived WAL file; exit 1 when it is not there."""
    from v11ops.backup.pitr import wal_get as get

    s = _settings(file, repo=repo, key_file=key_file)
    if not _run(lambda: get(s.repo, name, dest, s.key)):
        raise typer.Exit(EXIT_FAILED)


@app.command("schedule")
def schedule(
    every: str | None = typer.Option(None, "--every", help="e.g. 5m (default: backup.every)."),
    once: bool = typer.Option(False, "--once", help="One cycle (what the systemd service runs)."),
    count: int | None = typer.Option(None, "--count", min=1, help="Stop after N cycles."),
    drill_each: bool = typer.Option(False, "--drill", help="Also run a restore drill each cycle."),
    systemd: Path | None = typer.Option(
        None, "--systemd", help="Write a systemd service and timer into this folder and exit."
    ),
    user: str | None = typer.Option(None, "--user", help="With --systemd: run as this user."),
    db: str | None = typer.Option(None, "--db"),
    repo: Path | None = REPO,
    key_file: Path | None = KEY_FILE,
    metrics_dir: Path | None = METRICS_DIR,
    file: Path = FILE_OPTION,
) -> None:
    """Back up (then prune) every interval: for SQLite the interval is the RPO."""
    from v11ops.backup.create import BackupRequest, create_backup
    from v11ops.backup.drill import run_drill
    from v11ops.backup.errors import BackupError
    from v11ops.backup.keys import require_key
    from v11ops.backup.prune import prune as run_prune
    from v11ops.backup.schedule import parse_interval, run_every, systemd_units

    s = _settings(file, db=db, repo=repo, key_file=key_file, metrics_dir=metrics_dir)
    every_s = _run(lambda: parse_interval(every or s.every))
    if systemd is not None:
        if not file.exists():
            fail(f"--systemd needs the config file the service will use; {file} does not exist")
        systemd.mkdir(parents=True, exist_ok=True)
        for name, text in systemd_units(file, every_s, user).items():
            (systemd / name).write_text(text)
            console.print(f"wrote {systemd / name}")
        console.print(
            "enable it: systemctl daemon-reload && systemctl enable --now v11ops-backup.timer"
        )
        return
    url = _run(s.need_db)
    if s.encrypt:  # fail closed now, not once per cycle
        _run(lambda: require_key(s.key, "encryption is on (backup.encrypt)"))

    def cycle() -> bool:
        try:
            m = create_backup(
                BackupRequest(
                    db=url,
                    repo=s.repo,
                    key=s.key,
                    encrypt=s.encrypt,
                    level=s.level,
                    app=s.app,
                    reason="scheduled",
                )
            )
            console.print(f"{datetime.now(UTC):%FT%TZ} backup {m.id}: {_size(m.size_bytes)}")
            run_prune(s.repo, s.retention, s.key)
            if drill_each:
                d = run_drill(s.repo, s.key, m.id)
                console.print(
                    f"  drill {'passed' if d.ok else 'FAILED: ' + str(d.problem)}"
                    f" in {d.duration_s:.2f}s"
                )
                return d.ok
            return True
        except BackupError as exc:
            console.print(f"[red]{datetime.now(UTC):%FT%TZ} backup failed[/]: {exc}")
            return False
        finally:
            _metrics(s)

    failures = run_every(cycle, every_s, 1 if once else count)
    if failures:
        raise typer.Exit(EXIT_FAILED)


dr_app = typer.Typer(
    help="Disaster recovery: the runbook's recovery as a measured drill.", no_args_is_help=True
)


@dr_app.command("drill")
def dr_drill(
    rate: float = typer.Option(200, min=1, help="Signed transactions per second of load."),
    before_s: float = typer.Option(4.0, "--before", min=0.5, help="Load before the backup, s."),
    between_s: float = typer.Option(
        4.0, "--between", min=0.5, help="Load between the backup and the disaster, s (the RPO)."
    ),
    workdir: Path | None = typer.Option(None, help="Keep the stack's files here (default: tmp)."),
    as_json: bool = JSON,
) -> None:
    """Lose the data directory under load, restore, restart in order: real RTO and RPO."""
    from v11ops.backup.dr import run_dr_drill

    say = (lambda _m: None) if as_json else (lambda m: console.print(f"[dim]dr:[/] {m}"))
    report = run_dr_drill(workdir, rate, before_s, between_s, say)
    if as_json:
        typer.echo(json.dumps(report.to_json()))
    else:
        _print_dr_report(report)
    if not report.ok:
        raise typer.Exit(EXIT_FAILED)


def _print_dr_report(report: DrReport) -> None:
    table = Table(title="disaster recovery drill")
    table.add_column("measure")
    table.add_column("value", justify="right")
    rows = [
        ("backup (under load)", f"{report.backup_id}, {report.backup_s:.2f}s"),
        ("restore ledger + state", f"{report.restore_s:.2f}s"),
        ("verify chain", f"{report.verify_s:.2f}s"),
        ("start router, controller, node", f"{report.start_s:.2f}s"),
        ("RTO: loss to serving again", "-" if report.rto_s is None else f"{report.rto_s:.2f}s"),
        ("RPO: snapshot to loss", f"{report.rpo_s:.2f}s"),
        (
            "RPO: acknowledged transactions lost",
            f"{report.lost_transactions} of {report.acknowledged}",
        ),
        ("smoke checks after recovery", report.smoke_summary or "-"),
    ]
    for row in rows:
        table.add_row(*row)
    console.print(table)
    for problem in report.problems:
        console.print(f"[red]problem[/]: {problem}")
