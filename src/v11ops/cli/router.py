"""`v11ops router run|status|set|drain|undrain`: run and administer the builtin router."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from v11ops.cli.errors import EXIT_FAILED, EXIT_USAGE, err_console
from v11ops.config._router import normal_network
from v11ops.router import (
    RouterClient,
    RouterConfig,
    RouterConfigError,
    RouterError,
    RouterRejected,
    RouterStats,
    RouteTable,
    RouteTableError,
    Target,
    run_router,
)
from v11ops.router.proxy import ProxySettings
from v11ops.tls import TlsFiles

app = typer.Typer(help="Run and administer the builtin router.", no_args_is_help=True)

DEFAULT_SOCKET = Path(
    os.environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir(), f"v11ops-router-{os.getuid()}.sock"
)

SocketOption = Annotated[
    Path,
    typer.Option(
        "--admin-socket",
        envvar="V11OPS_ROUTER_SOCKET",
        help="Unix socket of the router's admin API.",
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]


def _fail_plain(message: str, code: int = EXIT_USAGE) -> NoReturn:
    """One unwrapped line on stderr (user text is escaped, not read as Rich markup)."""
    err_console.print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True)
    raise typer.Exit(code)


def _address(value: str, option: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        _fail_plain(f"{option} {value!r} must be HOST:PORT, e.g. 127.0.0.1:8080")
    return host.strip("[]"), int(port)


def _parse_target(spec: str) -> Target:
    """`name=http://host:port[@weight]`."""
    name, sep, rest = spec.partition("=")
    if not sep or not name or not rest:
        _fail_plain(
            f"--target {spec!r} must be NAME=URL[@WEIGHT], e.g. blue=http://127.0.0.1:9003@100"
        )
    url, at, weight = rest.rpartition("@") if "@" in rest else (rest, "", "100")
    if at and not weight.isdigit():
        _fail_plain(f"--target {spec!r}: weight {weight!r} must be a whole number >= 0")
    return Target(name=name, url=url, weight=int(weight))


def _table(
    targets: list[str],
    versions: list[str],
    sticky_header: str | None,
    sticky_cookie: str | None,
) -> RouteTable:
    labels: dict[str, str] = {}
    for spec in versions:
        name, sep, version = spec.partition("=")
        if not sep or not name:
            _fail_plain(f"--target-version {spec!r} must be NAME=VERSION, e.g. green=1.4.0")
        labels[name] = version
    parsed = [_parse_target(t) for t in targets]
    unknown = sorted(set(labels) - {t.name for t in parsed})
    if unknown:
        _fail_plain(f"--target-version names {unknown[0]!r}, which no --target defines")
    try:
        return RouteTable(
            tuple(Target(t.name, t.url, t.weight, labels.get(t.name, "")) for t in parsed),
            sticky_header=sticky_header,
            sticky_cookie=sticky_cookie,
        )
    except RouteTableError as exc:
        _fail_plain(str(exc))


def _report(exc: RouterError) -> NoReturn:
    if isinstance(exc, RouterConfigError):
        _fail_plain(str(exc))
    if isinstance(exc, RouterRejected):
        _fail_plain(str(exc), EXIT_USAGE if exc.status < 500 else EXIT_FAILED)
    _fail_plain(str(exc), EXIT_FAILED)


_DEFAULTS = ProxySettings()


@app.command()
def run(
    listen: Annotated[str, typer.Option("--listen", help="Public HOST:PORT.")] = "127.0.0.1:8080",
    admin_socket: SocketOption = DEFAULT_SOCKET,
    state_file: Annotated[
        Path, typer.Option("--state-file", help="Where the route table is persisted.")
    ] = Path("router-state.json"),
    metrics_listen: Annotated[
        str | None,
        typer.Option("--metrics-listen", help="Loopback HOST:PORT for /metrics and /health."),
    ] = None,
    admin_listen: Annotated[
        str | None,
        typer.Option("--admin-listen", help="Also serve the admin API on loopback HOST:PORT."),
    ] = None,
    admin_token_file: Annotated[
        Path | None,
        typer.Option("--admin-token-file", help="Bearer token required on --admin-listen."),
    ] = None,
    target: Annotated[
        list[str] | None,
        typer.Option("--target", help="Initial NAME=URL[@WEIGHT] when there is no state file."),
    ] = None,
    connect_timeout: Annotated[float, typer.Option(help="Upstream connect timeout (s).")] = 5.0,
    read_timeout: Annotated[float, typer.Option(help="Upstream silence before 504 (s).")] = 60.0,
    shutdown_timeout: Annotated[
        float, typer.Option(help="On SIGTERM, wait this long for in-flight requests (s).")
    ] = 30.0,
    tls_cert: Annotated[
        Path | None,
        typer.Option("--tls-cert", help="Serve HTTPS on --listen with this PEM certificate."),
    ] = None,
    tls_key: Annotated[
        Path | None, typer.Option("--tls-key", help="The certificate's PEM private key.")
    ] = None,
    redirect_http_listen: Annotated[
        str | None,
        typer.Option("--redirect-http-listen", help="Plain-HTTP HOST:PORT answering 308 to https."),
    ] = None,
    header_timeout: Annotated[
        float, typer.Option(min=0.1, help="A request head must arrive whole within this (s).")
    ] = _DEFAULTS.header_timeout_s,
    max_header_bytes: Annotated[
        int, typer.Option(min=1024, help="Request headers above this: 431.")
    ] = _DEFAULTS.max_header_bytes,
    max_body_bytes: Annotated[
        int, typer.Option(min=0, help="Request bodies above this: 413.")
    ] = _DEFAULTS.max_body_bytes,
    trust_forwarded_from: Annotated[
        list[str] | None,
        typer.Option(
            "--trust-forwarded-from",
            help="CIDR of a proxy in front whose X-Forwarded-* headers are kept (repeat;"
            " `none` when the router is the edge). Default: loopback.",
        ),
    ] = None,
) -> None:
    """Run the router until SIGTERM (then finish in-flight requests and exit 0).

    With --tls-cert and --tls-key it serves HTTPS (TLS 1.2 and newer); SIGHUP reloads them.
    """
    token = None
    if admin_token_file is not None:
        try:
            token = admin_token_file.read_text().strip()
        except OSError as exc:
            _fail_plain(f"cannot read --admin-token-file {admin_token_file}: {exc.strerror}")
        if not token:
            _fail_plain(f"--admin-token-file {admin_token_file} is empty")
    config = RouterConfig(
        state_file=state_file,
        listen=_address(listen, "--listen"),
        admin_socket=admin_socket,
        admin_listen=_address(admin_listen, "--admin-listen") if admin_listen else None,
        admin_token=token,
        metrics_listen=_address(metrics_listen, "--metrics-listen") if metrics_listen else None,
        connect_timeout_s=connect_timeout,
        shutdown_timeout_s=shutdown_timeout,
        proxy=ProxySettings(
            read_timeout_s=read_timeout,
            header_timeout_s=header_timeout,
            max_header_bytes=max_header_bytes,
            max_body_bytes=max_body_bytes,
            trust_forwarded_from=_trusted_networks(trust_forwarded_from),
        ),
        initial_table=_table(target, [], None, None) if target else None,
        tls=_tls_files(tls_cert, tls_key),
        redirect_http_listen=(
            _address(redirect_http_listen, "--redirect-http-listen")
            if redirect_http_listen
            else None
        ),
    )
    try:
        run_router(config)
    except RouterError as exc:
        _report(exc)
    except OSError as exc:
        _fail_plain(f"cannot start the router: {exc.strerror or exc}", EXIT_FAILED)


def _trusted_networks(values: list[str] | None) -> tuple[str, ...]:
    if values is None:
        return _DEFAULTS.trust_forwarded_from
    if values == ["none"]:
        return ()
    networks = []
    for value in values:
        try:
            networks.append(normal_network(value))
        except ValueError:
            _fail_plain(f"--trust-forwarded-from {value!r}: not an address or CIDR (or `none`)")
    return tuple(networks)


def _tls_files(cert: Path | None, key: Path | None) -> TlsFiles | None:
    if cert is None and key is None:
        return None
    if cert is None or key is None:
        _fail_plain("--tls-cert and --tls-key go together: give both, or neither")
    # Absolute, so the metric's path label names the file wherever the router was started.
    return TlsFiles(cert=cert.absolute(), key=key.absolute())


@app.command()
def status(admin_socket: SocketOption = DEFAULT_SOCKET, json_output: JsonOption = False) -> None:
    """Show the route table and per-target traffic."""
    try:
        with RouterClient(admin_socket) as client:
            table, stats = client.get_routes(), client.stats()
    except RouterError as exc:
        _report(exc)
    if json_output:
        typer.echo(json.dumps({"routes": table.to_json(), "stats": stats.to_json()}, indent=2))
        return
    Console().print(_status_table(table, stats))


def _status_table(table: RouteTable, stats: RouterStats) -> Table:
    view = Table(title=f"router: route table revision {table.revision}")
    for column in ("slot", "target", "version", "weight", "state", "in flight", "requests"):
        view.add_column(column, justify="right" if column[0] in "wir" else "left")
    view.add_column("5xx", justify="right")
    view.add_column("p99 ms", justify="right")
    for t in stats.targets:
        state = "draining" if t.draining else "ejected" if t.ejected else ""
        state = state or ("active" if t.in_table and t.weight else "idle")
        p99 = t.latency_quantile(0.99)
        view.add_row(
            t.slot,
            t.target.removeprefix("http://"),
            t.version,
            str(t.weight),
            state,
            str(t.in_flight),
            str(t.requests),
            str(t.responses_5xx),
            "-" if p99 is None else f"{p99 * 1000:.1f}",
        )
    return view


@app.command("set")
def set_routes(
    target: Annotated[
        list[str], typer.Option("--target", help="NAME=URL[@WEIGHT]; repeat for each target.")
    ],
    admin_socket: SocketOption = DEFAULT_SOCKET,
    target_version: Annotated[
        list[str] | None, typer.Option("--target-version", help="NAME=VERSION label.")
    ] = None,
    sticky_header: Annotated[
        str | None, typer.Option(help="Route by a hash of this request header.")
    ] = None,
    sticky_cookie: Annotated[
        str | None, typer.Option(help="Route by a hash of this cookie.")
    ] = None,
    expect_revision: Annotated[
        int | None, typer.Option(help="Switch only if the router is at this revision.")
    ] = None,
    json_output: JsonOption = False,
) -> None:
    """Replace the whole route table in one atomic switch."""
    table = _table(target, target_version or [], sticky_header, sticky_cookie)
    try:
        with RouterClient(admin_socket) as client:
            new = client.set_routes(table, expect_revision=expect_revision)
    except RouterError as exc:
        _report(exc)
    if json_output:
        typer.echo(json.dumps(new.to_json(), indent=2))
        return
    split = ", ".join(f"{t.name}={t.weight}" for t in new.targets) or "no targets"
    Console().print(f"route table revision {new.revision}: {escape(split)}")


@app.command()
def drain(
    target: Annotated[str, typer.Argument(help="Slot name (e.g. blue) or target url.")],
    admin_socket: SocketOption = DEFAULT_SOCKET,
    timeout: Annotated[float, typer.Option("--timeout", help="Seconds to wait.")] = 30.0,
    json_output: JsonOption = False,
) -> None:
    """Stop new requests to TARGET and wait until its in-flight requests finish."""
    try:
        with RouterClient(admin_socket) as client:
            result = client.drain(target, timeout_s=timeout)
    except RouterError as exc:
        _report(exc)
    if json_output:
        typer.echo(json.dumps(result.to_json()))
    elif result.drained:
        Console().print(f"drained {escape(target)} in {result.waited_s:.3f}s")
    else:
        Console(stderr=True).print(
            f"{escape(target)} still has {result.in_flight} request(s) in flight "
            f"after {result.waited_s:.1f}s"
        )
    if not result.drained:
        raise typer.Exit(EXIT_FAILED)


@app.command()
def undrain(
    target: Annotated[str, typer.Argument(help="Slot name (e.g. blue) or target url.")],
    admin_socket: SocketOption = DEFAULT_SOCKET,
) -> None:
    """Let TARGET receive new requests again."""
    try:
        with RouterClient(admin_socket) as client:
            urls = client.undrain(target)
    except RouterError as exc:
        _report(exc)
    Console().print(f"undrained {escape(', '.join(urls))}")
