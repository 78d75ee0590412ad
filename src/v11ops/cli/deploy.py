"""`v11ops up|down|deploy|rollback|status|history|promote|abort|logs` and `controller run`."""

from __future__ import annotations

import json
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from v11ops.cli.config import FILE_OPTION, load_or_fail
from v11ops.cli.errors import EXIT_FAILED, fail
from v11ops.config import STRATEGIES, Config
from v11ops.deploy.client import (
    ControllerClient,
    ControllerRefused,
    ControllerUnavailable,
    controller_socket,
)
from v11ops.deploy.state import TERMINAL

controller_app = typer.Typer(help="The controller daemon (started by `v11ops up`).")
console = Console(highlight=False, soft_wrap=True)
JSON = typer.Option(False, "--json", help="Print JSON for scripts.")


def _client(config: Config) -> ControllerClient:
    return ControllerClient(controller_socket(config))


def _call(config: Config, fn: Any) -> Any:
    """Run `fn(client)` on a new client; see `_guard`."""
    with _client(config) as client:
        return _guard(lambda: fn(client))


def _guard(call: Any) -> Any:
    """A refusal or a missing controller is one line and exit 1 (2 for a bad request)."""
    try:
        return call()
    except ControllerUnavailable as exc:
        fail(str(exc), EXIT_FAILED)
    except ControllerRefused as exc:
        fail(str(exc), 2 if exc.status == 400 else EXIT_FAILED)


@controller_app.command("run")
def controller_run(file: Path = FILE_OPTION) -> None:
    """Run the controller daemon in the foreground."""
    from v11node.logging import configure_logging
    from v11ops import __version__
    from v11ops.deploy.daemon import run_daemon

    config = load_or_fail(file)
    configure_logging("v11ops-controller", __version__, "controller")
    run_daemon(config)


def up(
    file: Path = FILE_OPTION,
    version: str | None = typer.Option(None, help="First release (default: the first listed)."),
) -> None:
    """Start the router and the controller in the background, and deploy the first release."""
    from v11ops.deploy.stack import StackError, ensure_controller, ensure_router

    config = load_or_fail(file)
    try:
        ensure_router(config)
        ensure_controller(config)
    except StackError as exc:
        fail(str(exc), EXIT_FAILED)
    status = _call(config, lambda c: c.status())
    live = [s for s in status["slots"].values() if s["role"] == "live"]
    if not live:
        first = version or config.versions[0]
        code = _wait_and_report(config, _call(config, lambda c: c.deploy(first)), as_json=False)
        if code:
            raise typer.Exit(code)
    console.print(f"[green]up[/]: service at {config.router.url}")
    if config.router.metrics_listen:
        console.print(f"router metrics at http://{config.router.metrics_listen}/metrics")
    console.print(f"state in {config.state_path}")


def down(file: Path = FILE_OPTION) -> None:
    """Stop every slot, the controller and the router."""
    from v11ops.deploy.stack import StackError, stop_controller, stop_router

    config = load_or_fail(file, secrets=False)
    try:
        stop_controller(config, stop_slots=True)
        stop_router(config)
    except (StackError, ControllerRefused) as exc:  # refused: no token with the admin role
        fail(str(exc), EXIT_FAILED)
    console.print("[green]down[/]")


def deploy(
    version: str = typer.Argument(..., help="A release version listed in the config."),
    file: Path = FILE_OPTION,
    wait: bool = typer.Option(True, "--wait/--no-wait", help="Wait for the outcome."),
    strategy: str | None = typer.Option(
        None, "--strategy", help="blue-green, canary or rolling (default: strategy.default)."
    ),
    as_json: bool = JSON,
) -> None:
    """Deploy VERSION. Exit 0 on success, 1 when it failed, was rolled back or aborted."""
    config = load_or_fail(file, secrets=False)
    if version not in config.releases:
        fail(f"unknown release {version!r} (known: {', '.join(config.versions)})")
    if strategy is not None and strategy not in STRATEGIES:
        fail(f"unknown strategy {strategy!r} (known: {', '.join(STRATEGIES)})")
    dep = _call(config, lambda c: c.deploy(version, strategy))
    if not wait:
        typer.echo(json.dumps({"id": dep}) if as_json else f"deployment {dep} started")
        return
    raise typer.Exit(_wait_and_report(config, dep, as_json))


def rollback(
    to: str | None = typer.Option(None, "--to", help="Version (default: the previous one)."),
    restore_db: bool = typer.Option(
        False,
        "--restore-db",
        help="For a release that cannot run on the ledger's schema:"
        " restore the pre-deploy backup (transactions since then are lost).",
    ),
    file: Path = FILE_OPTION,
    as_json: bool = JSON,
) -> None:
    """Switch back to the previous release (instant while it is warm)."""
    config = load_or_fail(file, secrets=False)
    dep = _call(config, lambda c: c.rollback(to, restore_db))
    if restore_db and not as_json:  # say what is lost before the outcome
        for event in _call(config, lambda c: c.deployment(dep))["events"]:
            if event["kind"] == "data_loss":
                console.print(f"[yellow]data loss[/]: {event['message']}")
    raise typer.Exit(_wait_and_report(config, dep, as_json))


def _wait_and_report(config: Config, dep: int, as_json: bool) -> int:
    seen_steps = 0
    paused_hint = False
    with _client(config) as client:
        while True:
            detail = _guard(lambda c=client: c.deployment(dep))
            if not as_json:
                for step in detail["steps"][seen_steps:]:
                    console.print(f"  [dim]step[/] {step['name']}")
                seen_steps = len(detail["steps"])
            if detail["status"] in TERMINAL:
                break
            if detail["status"] == "paused" and not paused_hint:
                paused_hint = True
                why = detail.get("reason") or "for preview: check the new slot"
                console.print(f"[yellow]paused[/] {why}; run `v11ops promote` to go on"
                              " (or `v11ops abort`)")  # fmt: skip
            elif detail["status"] == "running":
                paused_hint = False
            time.sleep(0.2)
    if as_json:
        typer.echo(json.dumps(detail, default=str))
    else:
        _print_outcome(detail)
    return 0 if detail["status"] == "succeeded" else EXIT_FAILED


def _print_outcome(detail: dict[str, Any]) -> None:
    color = "green" if detail["status"] == "succeeded" else "red"
    took = (detail["finished_at"] or time.time()) - detail["started_at"]
    console.print(
        f"[{color}]{detail['kind']} {detail['id']} {detail['status']}[/]: {detail['version']}"
        f" in {took:.1f}s" + (f" ({detail['reason']})" if detail["reason"] else "")
    )


def status(file: Path = FILE_OPTION, as_json: bool = JSON) -> None:
    """Slots, versions, router routes and the last deployment."""
    config = load_or_fail(file, secrets=False)
    st = _call(config, lambda c: c.status())
    if as_json:
        typer.echo(json.dumps(st, default=str))
        return
    table = Table(title=f"{st['service']} via http://{st['router']['listen']}")
    for col in ("slot", "role", "version", "port", "pid", "alive", "restarts"):
        table.add_column(col)
    for name, s in st["slots"].items():
        cells = (s["role"], s["version"] or "-", s["port"] or "-", s["pid"] or "-")
        alive = "yes" if s["alive"] else "no"
        table.add_row(name, *(str(c) for c in cells), alive, str(s["restarts"]))
    console.print(table)
    if st["last_deployment"]:
        _print_outcome(st["last_deployment"])
    routes = st["router"]["routes"]
    if "error" in routes:
        console.print(f"[red]router unreachable[/]: {routes['error']}")
        raise typer.Exit(EXIT_FAILED)


def history(
    count: int = typer.Argument(10, min=1, help="How many deployments."),
    explain: bool = typer.Option(False, "--explain", help="Steps, events and gate evidence."),
    file: Path = FILE_OPTION,
    as_json: bool = JSON,
) -> None:
    """Recent deployments; with --explain, every step, event and verdict with its evidence."""
    config = load_or_fail(file, secrets=False)
    deps = _call(config, lambda c: c.history(count))
    if explain:
        deps = [_call(config, lambda c, d=d: c.deployment(d["id"])) for d in deps]
    if as_json:
        typer.echo(json.dumps(deps, default=str))
        return
    table = Table()
    for col in ("id", "kind", "version", "from", "status", "started", "took", "reason"):
        table.add_column(col)
    for d in deps:
        took = f"{(d['finished_at'] or time.time()) - d['started_at']:.1f}s"
        started = datetime.fromtimestamp(d["started_at"]).strftime("%H:%M:%S")
        table.add_row(str(d["id"]), d["kind"], d["version"], str(d["previous_version"] or "-"),
                      d["status"], started, took, d["reason"] or "")  # fmt: skip
    console.print(table)
    if explain:
        for d in deps:
            _print_explain(d)


def _print_explain(d: dict[str, Any]) -> None:
    console.print(f"\n[bold]deployment {d['id']}[/] ({d['kind']} {d['version']}): {d['status']}")
    t0 = d["started_at"]
    for e in d["events"]:
        console.print(f"  +{e['at'] - t0:7.2f}s  {e['kind']:<18} {e['message']}")
    for v in d["verdicts"]:
        mark = "[green]pass[/]" if v["passed"] else "[red]FAIL[/]"
        console.print(f"  gate {v['gate']}: {mark} in {v['durationS']:.2f}s")
        for ev in v["evidence"]:
            ok = "ok " if ev["passed"] else "BAD"
            note = f"  ({ev['note']})" if ev.get("note") else ""
            console.print(
                f"    {ok} {ev['check']}: observed {ev['observed']!r}, expected {ev['expected']!r}"
                f"{note}"
            )


def promote(file: Path = FILE_OPTION) -> None:
    """Let a paused deployment (preview) continue to the switch."""
    _call(load_or_fail(file, secrets=False), lambda c: c.promote())
    console.print("promoted")


def abort(file: Path = FILE_OPTION) -> None:
    """Abort the running deployment; traffic stays on (or returns to) the stable slot."""
    _call(load_or_fail(file, secrets=False), lambda c: c.abort())
    console.print("abort requested")


def logs(
    slot: str | None = typer.Argument(None, help="A slot, `router` or `controller`."),
    file: Path = FILE_OPTION,
    lines: int = typer.Option(40, "-n", help="How many lines."),
) -> None:
    """The last lines of a slot's (or the router's, or the controller's) log."""
    config = load_or_fail(file, secrets=False)
    name = slot or "controller"
    if name not in (*config.slots, "router", "controller"):
        fail(f"unknown slot {name!r} (slots: {', '.join(config.slots)}, router, controller)")
    path = config.state_path / "logs" / f"{name}.log"
    if not path.exists():
        fail(f"no log yet at {path}", EXIT_FAILED)
    for line in path.read_text(errors="replace").splitlines()[-lines:]:
        typer.echo(line)


def register(root: typer.Typer) -> None:
    for fn in (up, down, deploy, rollback, status, history, promote, abort, logs):
        root.command(fn.__name__)(fn)
    root.add_typer(controller_app, name="controller")
