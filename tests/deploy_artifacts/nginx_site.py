"""An nginx site from deploy/nginx, rewritten to run in a temporary prefix."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from tests.deploy_artifacts.artifacts import NGINX, replace_once
from tests.deploy_artifacts.certs import write_self_signed

# The paths deploy/README.md installs to, as the sites name them.
UPSTREAM_INCLUDE = "/etc/nginx/v11ops/upstream.conf"
PROXY_SNIPPET = "/etc/nginx/snippets/v11ops-proxy.conf"
CERT = "/etc/ssl/v11ops/fullchain.pem"
KEY = "/etc/ssl/v11ops/privkey.pem"

SITES = ("v11ops.conf", "v11ops-builtin-router.conf")


@dataclass(frozen=True)
class Prefix:
    """A temporary nginx prefix holding a main config that includes one site."""

    root: Path
    conf: Path
    upstream: Path
    cert: Path


def prepare(root: Path, site: str, http_port: int = 80, https_port: int = 443) -> Prefix:
    """Copy `site` into `root` with its host paths (and ports) moved there."""
    cert, key = write_self_signed(root / "tls")
    upstream = root / "upstream.conf"
    text = (NGINX / site).read_text()
    if UPSTREAM_INCLUDE in text:
        text = replace_once(text, UPSTREAM_INCLUDE, str(upstream))
    text = replace_once(text, PROXY_SNIPPET, str(NGINX / "v11ops-proxy.conf"))
    text = replace_once(replace_once(text, CERT, str(cert)), KEY, str(key))
    # The sandbox may lack IPv6; the IPv4 listeners are the ones the tests talk to.
    text = replace_once(text, "    listen [::]:80;\n", "")
    text = replace_once(text, "    listen [::]:443 ssl http2;\n", "")
    text = replace_once(text, "listen 80;", f"listen 127.0.0.1:{http_port};")
    text = replace_once(text, "listen 443 ssl", f"listen 127.0.0.1:{https_port} ssl")
    (root / site).write_text(text)
    conf = root / "nginx.conf"
    conf.write_text(_MAIN.format(root=root, site=root / site, user=_user()))
    return Prefix(root, conf, upstream, cert)


def _user() -> str:
    # As root nginx would run workers as `nobody`, who cannot enter a private tmp dir.
    return "user root;" if os.geteuid() == 0 else ""


_MAIN = """\
{user}
worker_processes 1;
pid {root}/nginx.pid;
error_log {root}/error.log warn;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {root}/client_body;
    proxy_temp_path {root}/proxy;
    fastcgi_temp_path {root}/fastcgi;
    uwsgi_temp_path {root}/uwsgi;
    scgi_temp_path {root}/scgi;
    include {site};
}}
"""


def wait_for_port(port: int, proc: subprocess.Popen[bytes], timeout_s: float = 10.0) -> None:
    """Wait (bounded) until nginx, started as `proc`, accepts connections on `port`."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert proc.poll() is None, "nginx exited"
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"nginx did not listen on {port} within {timeout_s}s")
