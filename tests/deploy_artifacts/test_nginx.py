"""The nginx sites: they use the upstream v11ops renders, pass `nginx -t`, and proxy for real."""

from __future__ import annotations

import json
import re
import ssl
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from tests.deploy_artifacts.artifacts import NGINX, host_config, replace_once
from tests.deploy_artifacts.nginx_site import SITES, UPSTREAM_INCLUDE, prepare, wait_for_port
from tests.support.services import require_binary
from v11node.node import NodeSettings
from v11ops.config import DEFAULT_CONFIG_YAML, parse_config
from v11ops.router import NginxRouter, RouteTable, Target
from v11ops.router.nginx import UPSTREAM_NAME
from v11ops.runtime import free_port

INCLUDE_MODE = """
router:
  kind: nginx
  listen: 127.0.0.1:8080
  nginx:
    mode: include
    include_path: {path}
"""


@pytest.fixture
def nginx_bin() -> Path:
    # Locally a missing nginx skips with this reason; in CI (CI=true) it fails.
    return Path(require_binary("nginx"))


def _include_mode_router(tmp_path: Path) -> NginxRouter:
    """The nginx router that v11ops builds for the include mode the site documents."""
    router_section = DEFAULT_CONFIG_YAML[DEFAULT_CONFIG_YAML.index("\nrouter:") :]
    router_section = router_section[: router_section.index("\n# Strategy")]
    text = replace_once(
        DEFAULT_CONFIG_YAML, router_section, INCLUDE_MODE.format(path=UPSTREAM_INCLUDE)
    )
    config = parse_config(text, tmp_path / "v11ops.yaml")
    assert config.router.nginx.include_path is not None
    return NginxRouter.include(config.state_path, Path(config.router.nginx.include_path))


def test_site_includes_the_upstream_file_the_nginx_router_writes(tmp_path: Path) -> None:
    router = _include_mode_router(tmp_path)
    site = (NGINX / "v11ops.conf").read_text()
    assert f"include {router.layout.upstream_file};" in site
    rendered = router.render_upstream(RouteTable((Target("blue", "http://127.0.0.1:9003"),)))
    assert f"upstream {UPSTREAM_NAME} {{" in rendered
    assert f"proxy_pass http://{UPSTREAM_NAME};" in site
    # The rendered upstream keeps connections alive; the snippet must let nginx reuse them.
    snippet = (NGINX / "v11ops-proxy.conf").read_text()
    assert "keepalive" in rendered and "proxy_http_version 1.1;" in snippet
    assert 'proxy_set_header Connection "";' in snippet


def test_builtin_router_site_proxies_to_the_router_listen_address() -> None:
    site = (NGINX / "v11ops-builtin-router.conf").read_text()
    upstream = re.search(r"upstream v11ops_router \{(.*?)\}", site, re.S)
    assert upstream is not None
    assert f"server {host_config().router.listen};" in upstream.group(1)
    assert "keepalive" in upstream.group(1)
    assert "proxy_pass http://v11ops_router;" in site
    assert "include /etc/nginx/v11ops" not in site  # nothing to reload on a switch


@pytest.mark.parametrize("site", SITES)
def test_site_terminates_tls_redirects_http_and_hides_admin_routes(site: str) -> None:
    text = (NGINX / site).read_text()
    assert "listen 443 ssl http2;" in text and "ssl_certificate " in text
    assert "return 301 https://$host$request_uri;" in text
    assert re.search(r"location \^~ /admin/ \{\s*return 404;", text)
    limit = NodeSettings.__dataclass_fields__["max_body_bytes"].default
    assert isinstance(limit, int)
    assert f"client_max_body_size {limit // 2**20}m;" in text  # the node's own limit
    assert "include /etc/nginx/snippets/v11ops-proxy.conf;" in text


def test_proxy_snippet_sets_the_forwarded_headers() -> None:
    snippet = (NGINX / "v11ops-proxy.conf").read_text()
    for header in ("X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host", "X-Request-Id"):
        assert f"proxy_set_header {header} " in snippet


@pytest.mark.parametrize("site", SITES)
def test_nginx_accepts_the_site(site: str, nginx_bin: Path, tmp_path: Path) -> None:
    prefix = prepare(tmp_path, site)
    prefix.upstream.write_text(
        NginxRouter.own(tmp_path, ("127.0.0.1", 1)).render_upstream(
            RouteTable((Target("blue", "http://127.0.0.1:9003", 100, "1.1.0"),))
        )
    )
    result = subprocess.run(
        [str(nginx_bin), "-t", "-p", str(tmp_path), "-c", str(prefix.conf)],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr


class _Echo(BaseHTTPRequestHandler):
    """Answers every GET with the path and headers it received."""

    def do_GET(self) -> None:
        body = json.dumps({"path": self.path, "headers": dict(self.headers.items())}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture
def echo() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def test_site_serves_tls_and_forwards_to_the_rendered_upstream(
    nginx_bin: Path, tmp_path: Path, echo: int
) -> None:
    http_port, https_port = free_port(), free_port()
    prefix = prepare(tmp_path, "v11ops.conf", http_port, https_port)
    table = RouteTable((Target("blue", f"http://127.0.0.1:{echo}", 100, "1.1.0"),))
    prefix.upstream.write_text(NginxRouter.own(tmp_path, ("127.0.0.1", 1)).render_upstream(table))
    proc = subprocess.Popen(
        [str(nginx_bin), "-p", str(tmp_path), "-c", str(prefix.conf), "-g", "daemon off;"]
    )
    try:
        wait_for_port(https_port, proc)
        tls = ssl.create_default_context(cafile=str(prefix.cert))
        with httpx.Client(verify=tls, timeout=5) as client:
            seen = client.get(f"https://127.0.0.1:{https_port}/api/v11/info").json()
            admin = client.get(f"https://127.0.0.1:{https_port}/admin/v11/producer/yield")
            plain = client.get(f"http://127.0.0.1:{http_port}/api/v11/info")
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    headers = {k.lower(): v for k, v in seen["headers"].items()}
    assert seen["path"] == "/api/v11/info"
    assert headers["x-forwarded-proto"] == "https"
    assert headers["x-forwarded-for"] == "127.0.0.1"
    assert headers["x-forwarded-port"] == str(https_port)
    assert headers["x-request-id"]
    assert admin.status_code == 404
    assert plain.status_code == 301
    assert plain.headers["location"] == "https://127.0.0.1/api/v11/info"
