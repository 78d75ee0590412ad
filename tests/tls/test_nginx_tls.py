"""The nginx sites in deploy/nginx speak TLS 1.2 and 1.3 only (a real nginx, a real handshake)."""

from __future__ import annotations

import ssl
import subprocess
from pathlib import Path

import pytest

from tests.deploy_artifacts.nginx_site import SITES, prepare, wait_for_port
from tests.support.services import require_binary
from tests.tls.routers import REFUSED_VERSION, client_context, handshake
from v11ops.router import NginxRouter, RouteTable, Target
from v11ops.runtime import free_port


@pytest.mark.parametrize("site", SITES)
def test_the_site_refuses_tls_1_1_and_speaks_1_2_and_1_3(site: str, tmp_path: Path) -> None:
    nginx = require_binary("nginx")
    https_port = free_port()
    prefix = prepare(tmp_path, site, free_port(), https_port)
    table = RouteTable((Target("blue", "http://127.0.0.1:9", 100, "1"),))
    prefix.upstream.write_text(NginxRouter.own(tmp_path, ("127.0.0.1", 1)).render_upstream(table))
    proc = subprocess.Popen(
        [nginx, "-p", str(tmp_path), "-c", str(prefix.conf), "-g", "daemon off;"],
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(https_port, proc)
        for version, name in (
            (ssl.TLSVersion.TLSv1_2, "TLSv1.2"),
            (ssl.TLSVersion.TLSv1_3, "TLSv1.3"),
        ):
            context = client_context(prefix.cert, version, version)
            assert handshake(https_port, context, "v11.example.com")[0] == name
        old = client_context(prefix.cert, ssl.TLSVersion.TLSv1_1)
        with pytest.raises(ssl.SSLError) as refused:
            handshake(https_port, old, "v11.example.com")
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert refused.value.reason in REFUSED_VERSION
