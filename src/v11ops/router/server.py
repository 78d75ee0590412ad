"""The router process: listeners, state restore, signals and graceful shutdown.

The router is a long-lived process of its own, separate from the deploy controller, so the
controller can crash or be upgraded without dropping a request. With a certificate it terminates
TLS on the data listener (and may answer plain HTTP on another with a redirect to https); SIGHUP
reloads the certificate for new connections without dropping any.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import ipaddress
import os
import signal
import socket
import ssl
from dataclasses import dataclass, field
from pathlib import Path

import structlog

from v11ops.router.admin import AdminApi, bearer_auth
from v11ops.router.control_http import connection_handler
from v11ops.router.errors import RouterConfigError, RouterError
from v11ops.router.metrics import CertificateExpiry, build_registry, metrics_handler
from v11ops.router.proxy import Proxy, ProxySettings
from v11ops.router.redirect import https_redirect_handler
from v11ops.router.routing import Routing
from v11ops.router.store import load_table, save_table
from v11ops.router.table import RouteTable
from v11ops.router.upstream import UpstreamRegistry
from v11ops.tls import TlsConfigError, TlsFiles, load_certificate, server_context

Address = tuple[str, int]
log = structlog.get_logger("v11ops.router")


@dataclass(frozen=True)
class RouterConfig:
    """Everything `v11ops router run` needs."""

    state_file: Path
    listen: Address = ("127.0.0.1", 8080)
    admin_socket: Path | None = None
    admin_listen: Address | None = None
    admin_token: str | None = None
    metrics_listen: Address | None = None
    connect_timeout_s: float = 5.0
    shutdown_timeout_s: float = 30.0
    proxy: ProxySettings = field(default_factory=ProxySettings)
    initial_table: RouteTable | None = None  # used only when there is no state file yet
    backlog: int = 4096
    tls: TlsFiles | None = None  # terminate TLS on `listen` with these files
    redirect_http_listen: Address | None = None  # plain HTTP answering 308 to https
    tls_handshake_timeout_s: float = 10.0


class RouterServer:
    """One router: data listener, admin listeners and metrics listener on one event loop."""

    def __init__(self, config: RouterConfig) -> None:
        if config.admin_listen is not None:
            if not config.admin_token:
                raise RouterConfigError("--admin-listen needs --admin-token-file (a bearer token)")
            if not _is_loopback(config.admin_listen[0]):
                raise RouterConfigError(
                    f"--admin-listen {config.admin_listen[0]} is not a loopback address; "
                    "use 127.0.0.1 (or the unix socket) so the admin API is never exposed"
                )
        if config.redirect_http_listen is not None and config.tls is None:
            raise RouterConfigError("--redirect-http-listen needs --tls-cert and --tls-key")
        self.config = config
        self.certificates = CertificateExpiry()
        self._ssl = self._tls_context(config.tls)
        self.registry = UpstreamRegistry()
        self.routing = Routing(
            self.registry,
            connect_timeout=config.connect_timeout_s,
            persist=lambda table: save_table(config.state_file, table),
        )
        self.proxy = Proxy(self.routing, config.proxy)
        self._data: asyncio.Server | None = None
        self._control: list[asyncio.Server] = []
        self._metrics: asyncio.Server | None = None
        self._admin_tcp: asyncio.Server | None = None
        self._redirect: asyncio.Server | None = None
        self._owns_socket = False

    def _tls_context(self, files: TlsFiles | None) -> ssl.SSLContext | None:
        if files is None:
            return None
        context = server_context()
        try:
            self.certificates.set(load_certificate(context, files))
        except TlsConfigError as exc:
            raise RouterConfigError(f"TLS {exc}") from None
        mode = files.key.stat().st_mode & 0o777
        if mode & 0o077:  # served anyway: refusing would turn a loose chmod into an outage
            log.warning("tls_key_readable_by_others", path=str(files.key), mode=f"{mode:o}")
        return context

    def reload_certificate(self) -> None:
        """Load the certificate and key again (after a renewal): new connections get the new
        one, open ones keep theirs. A file that cannot be used leaves the old one in force."""
        files = self.config.tls
        if files is None or self._ssl is None:
            return
        try:
            validity = load_certificate(self._ssl, files)
        except TlsConfigError as exc:
            log.warning("certificate_reload_failed", error=str(exc), kept="the old certificate")
            return
        self.certificates.set(validity)
        log.info(
            "certificate_reloaded",
            path=str(files.cert),
            subject=validity.subject,
            not_after=validity.not_after.isoformat(),
        )

    @property
    def scheme(self) -> str:
        """`https` when the data listener terminates TLS, else `http`."""
        return "http" if self._ssl is None else "https"

    @property
    def redirect_port(self) -> int:
        """The bound port of the plain-HTTP redirect listener."""
        assert self._redirect is not None
        return int(self._redirect.sockets[0].getsockname()[1])

    @property
    def port(self) -> int:
        """The bound data port (useful with port 0)."""
        assert self._data is not None
        return int(self._data.sockets[0].getsockname()[1])

    @property
    def metrics_port(self) -> int:
        """The bound port of the metrics listener."""
        assert self._metrics is not None
        return int(self._metrics.sockets[0].getsockname()[1])

    @property
    def admin_port(self) -> int:
        """The bound port of the TCP admin listener."""
        assert self._admin_tcp is not None
        return int(self._admin_tcp.sockets[0].getsockname()[1])

    async def start(self) -> None:
        """Restore the route table, then open all listeners."""
        config = self.config
        table = load_table(config.state_file)
        if table is None and config.initial_table is not None:
            table = await self.routing.switch(config.initial_table)
        elif table is not None:
            self.routing.restore(table)
        loop = asyncio.get_running_loop()
        try:
            await self._start_control()
            self._data = await loop.create_server(
                self.proxy,
                *config.listen,
                backlog=config.backlog,
                reuse_address=True,
                ssl=self._ssl,
                ssl_handshake_timeout=config.tls_handshake_timeout_s if self._ssl else None,
            )
            if config.redirect_http_listen is not None:
                handler = https_redirect_handler(self.port)
                self._redirect = await asyncio.start_server(
                    connection_handler(handler), *config.redirect_http_listen, reuse_address=True
                )
        except BaseException:
            if self._data is not None:
                self._data.close()
            self._close_control()
            raise
        self.proxy.start_clock()

    def _close_control(self) -> None:
        for server in self._control:
            server.close()
        if self.config.admin_socket is not None and self._owns_socket:
            with contextlib.suppress(FileNotFoundError):
                self.config.admin_socket.unlink()

    async def _start_control(self) -> None:
        config = self.config
        if config.metrics_listen is not None:
            registry = build_registry(self.routing, self.certificates)
            handler = metrics_handler(registry, lambda: not self.proxy.closing)
            server = await asyncio.start_server(connection_handler(handler), *config.metrics_listen)
            self._control.append(server)
            self._metrics = server
        admin = AdminApi(self.routing, lambda: self.proxy.closing)
        if config.admin_listen is not None and config.admin_token:
            guarded = bearer_auth(config.admin_token, admin)
            server = await asyncio.start_server(connection_handler(guarded), *config.admin_listen)
            self._control.append(server)
            self._admin_tcp = server
        if config.admin_socket is not None:
            self._control.append(await _unix_server(config.admin_socket, admin))
            self._owns_socket = True

    async def stop(self) -> None:
        """Stop accepting, let in-flight requests finish (bounded), then close everything."""
        if self._data is not None:
            self._data.close()
        if self._redirect is not None:
            self._redirect.close()
        self.proxy.begin_shutdown()
        finished = await self.proxy.wait_closed(self.config.shutdown_timeout_s)
        if not finished:
            self.proxy.abort_all()
        self.proxy.stop_clock()
        self._close_control()
        for state in self.routing.states.values():
            state.pool.close()

    async def serve_until_signal(self) -> None:
        """Run until SIGTERM or SIGINT, then shut down gracefully."""
        await self.start()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        loop.add_signal_handler(signal.SIGHUP, self.reload_certificate)
        await stop.wait()
        await self.stop()


async def _unix_server(path: Path, admin: AdminApi) -> asyncio.Server:
    # Blocking file calls are fine here: this runs once, before any traffic.
    _prepare_socket_path(path)
    # Create the socket 0600 from the start: no window where another user could connect.
    old_umask = os.umask(0o177)
    try:
        server = await asyncio.start_unix_server(connection_handler(admin), path)
    finally:
        os.umask(old_umask)
    os.chmod(path, 0o600)
    return server


def _prepare_socket_path(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        return
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(str(path))
    except OSError as exc:
        if exc.errno in (errno.ECONNREFUSED, errno.ENOENT, errno.ENOTSOCK):
            path.unlink(missing_ok=True)  # left behind by a router that died
            return
        raise RouterError(f"cannot use admin socket {path}: {exc.strerror}") from None
    finally:
        probe.close()
    raise RouterError(f"another router is already serving the admin socket {path}; stop it first")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def run(config: RouterConfig) -> None:
    """Run a router in this process until SIGTERM/SIGINT (uvloop when importable)."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency on Linux
        asyncio.run(RouterServer(config).serve_until_signal())
    else:
        uvloop.run(RouterServer(config).serve_until_signal())
