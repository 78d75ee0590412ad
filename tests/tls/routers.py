"""A builtin router serving HTTPS with a fresh self-signed certificate, on a loop in a thread;
TLS clients that may offer old protocol versions."""

from __future__ import annotations

import socket
import ssl
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.deploy_artifacts.artifacts import replace_once
from tests.router.harness import LoopThread
from v11ops.config import DEFAULT_CONFIG_YAML
from v11ops.router import RouterConfig, RouterServer, RouteTable
from v11ops.router.proxy import ProxySettings
from v11ops.runtime import free_port
from v11ops.tls import SelfSigned, TlsFiles, write_self_signed

METRICS_LINE = "  metrics_listen: 127.0.0.1:9180"


def config_yaml(tls: str, listen: str = "127.0.0.1:8080", kind: str = "builtin") -> str:
    """`v11ops init`'s config with router.listen, router.kind and a router.tls block."""
    text = replace_once(DEFAULT_CONFIG_YAML, "  listen: 127.0.0.1:8080", f"  listen: {listen}")
    text = replace_once(text, "  kind: builtin ", f"  kind: {kind} ")
    return replace_once(text, METRICS_LINE, f"  tls:\n{tls}{METRICS_LINE}")


@dataclass(frozen=True)
class TlsRouter:
    server: RouterServer
    cert: SelfSigned

    @property
    def https_url(self) -> str:
        return f"https://127.0.0.1:{self.server.port}"

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.server.metrics_port}/metrics"


def make_cert(folder: Path, days: int = 90) -> SelfSigned:
    """A self-signed certificate for localhost and 127.0.0.1 in `folder`."""
    return write_self_signed(folder / "cert.pem", folder / "key.pem", days=days)


def tls_config(
    folder: Path, cert: SelfSigned, table: RouteTable | None = None, redirect: bool = False
) -> RouterConfig:
    return RouterConfig(
        state_file=folder / "router-state.json",
        listen=("127.0.0.1", free_port()),
        admin_socket=folder / "admin.sock",
        metrics_listen=("127.0.0.1", free_port()),
        shutdown_timeout_s=5.0,
        proxy=ProxySettings(tick_s=0.05),
        initial_table=table,
        tls=TlsFiles(cert.cert, cert.key),
        redirect_http_listen=("127.0.0.1", free_port()) if redirect else None,
    )


@contextmanager
def running(loop: LoopThread, config: RouterConfig, cert: SelfSigned) -> Iterator[TlsRouter]:
    """Start a router with `config` on `loop`; stop it (gracefully) on exit."""
    server = RouterServer(config)
    loop.run(server.start())
    try:
        yield TlsRouter(server, cert)
    finally:
        loop.run(server.stop())


@contextmanager
def tls_router(folder: Path, table: RouteTable | None = None) -> Iterator[TlsRouter]:
    """A TLS router with its own event loop thread (for tests outside tests/tls)."""
    loop = LoopThread()
    try:
        cert = make_cert(folder)
        with running(loop, tls_config(folder, cert, table), cert) as router:
            yield router
    finally:
        loop.close()


# The reasons a handshake fails with when the server refuses the client's version: an alert, or
# (uvloop) hanging up. A client that offered nothing would fail with NO_PROTOCOLS_AVAILABLE.
REFUSED_VERSION = {"UNEXPECTED_EOF_WHILE_READING", "TLSV1_ALERT_PROTOCOL_VERSION"}


def client_context(
    cafile: Path, maximum: ssl.TLSVersion, minimum: ssl.TLSVersion = ssl.TLSVersion.TLSv1
) -> ssl.SSLContext:
    """A client trusting `cafile` that offers `minimum`..`maximum`, old versions included."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_verify_locations(cafile)
    context.set_ciphers("DEFAULT:@SECLEVEL=0")  # TLS 1.0/1.1 need SHA-1 suites
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        context.minimum_version = minimum
        context.maximum_version = maximum
    context.set_alpn_protocols(["h2", "http/1.1"])
    return context


def handshake(
    port: int, context: ssl.SSLContext, server_hostname: str = "localhost"
) -> tuple[str | None, str | None, bytes]:
    """(TLS version, ALPN protocol, the peer's certificate in DER) of one handshake."""
    with (
        socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname=server_hostname) as tls,
    ):
        return tls.version(), tls.selected_alpn_protocol(), tls.getpeercert(True) or b""
