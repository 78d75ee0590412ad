"""The nginx backend: render, `nginx -t`, reload, and routing through a real nginx."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.router.conftest import StartUpstream
from tests.router.harness import closed_port
from tests.support.services import require_binary
from v11ops.router import NginxError, NginxRouter, RouteTable, Target


@pytest.fixture
def nginx_bin() -> Path:
    # Locally a missing nginx skips with this reason; in CI (CI=true) it fails.
    return Path(require_binary("nginx"))


@pytest.fixture
def own_nginx(nginx_bin: Path, tmp_path: Path) -> Iterator[NginxRouter]:
    router = NginxRouter.own(tmp_path / "nginx", ("127.0.0.1", closed_port()), nginx_bin=nginx_bin)
    yield router
    router.stop(timeout_s=10)


def _base(router: NginxRouter) -> str:
    host, port = router.listen
    return f"http://{host}:{port}"


def test_upstream_file_has_weights_and_leaves_out_weight_zero(tmp_path: Path) -> None:
    router = NginxRouter.own(tmp_path, ("127.0.0.1", 8080))
    table = RouteTable(
        (
            Target("blue", "http://127.0.0.1:9003", 90, "1.0"),
            Target("green", "http://127.0.0.1:9004", 10, "2.0"),
            Target("old", "http://127.0.0.1:9005", 0),
        ),
        revision=7,
    )
    text = router.render_upstream(table)
    assert "server 127.0.0.1:9003 weight=90" in text and "# blue 1.0" in text
    assert "server 127.0.0.1:9004 weight=10" in text
    assert "9005" not in text
    assert "revision 7" in text and "keepalive 64;" in text
    assert "down;" in router.render_upstream(RouteTable())


def test_a_missing_nginx_binary_names_the_package_to_install(tmp_path: Path) -> None:
    router = NginxRouter.own(tmp_path, ("127.0.0.1", 8080), nginx_bin=tmp_path / "no-nginx")
    with pytest.raises(NginxError, match="apt-get install nginx"):
        router.start()


def test_render_test_and_reload_route_to_the_new_upstream(
    own_nginx: NginxRouter, upstream: StartUpstream
) -> None:
    blue, green = upstream("blue"), upstream("green")
    own_nginx.start()
    own_nginx.set_routes(RouteTable((blue.target(),)))
    with httpx.Client(base_url=_base(own_nginx)) as http:
        first = http.get("/", headers={"x-request-id": "abc"}).json()
        assert first["name"] == "blue"
        seen = {k: v for k, v in first["headers"]}
        assert seen["x-forwarded-for"] == "127.0.0.1" and seen["x-request-id"] == "abc"
        assert seen["x-forwarded-proto"] == "http"
        table = own_nginx.set_routes(RouteTable((green.target(),)))
        # The reload is confirmed: the very next request already sees the new upstream.
        assert [http.get("/").json()["name"] for _ in range(5)] == ["green"] * 5
    assert table.revision == 2
    assert own_nginx.routes() == table
    assert own_nginx.health()["status"] == "ok"


def test_a_config_nginx_rejects_changes_nothing(
    own_nginx: NginxRouter, upstream: StartUpstream
) -> None:
    blue = upstream("blue")
    own_nginx.start()
    good = own_nginx.set_routes(RouteTable((blue.target(),)))
    upstream_text = own_nginx.layout.upstream_file.read_text()
    bad = RouteTable((Target("blue", "http://no-such-host.invalid:9003"),))
    with pytest.raises(NginxError, match="rejected the config"):
        own_nginx.set_routes(bad)
    assert own_nginx.layout.upstream_file.read_text() == upstream_text
    assert own_nginx.routes() == good
    assert httpx.get(_base(own_nginx)).json()["name"] == "blue"


def test_drain_waits_for_old_workers_to_finish_their_requests(
    own_nginx: NginxRouter, upstream: StartUpstream
) -> None:
    blue, green = upstream("blue"), upstream("green")
    own_nginx.start()
    own_nginx.set_routes(RouteTable((blue.target(50), green.target(50))))
    with ThreadPoolExecutor(1) as pool:
        # SWRR in the fresh worker: the first request goes to blue.
        slow = pool.submit(httpx.get, f"{_base(own_nginx)}/?sleep=0.5", timeout=10)
        blue.wait_sleeping()
        result = own_nginx.drain("blue", timeout_s=10)
        response = slow.result(10)
    assert result.drained and result.in_flight == 0 and result.waited_s > 0
    assert response.status_code == 200 and response.json()["name"] == "blue"
    assert {httpx.get(_base(own_nginx)).json()["name"] for _ in range(4)} == {"green"}
    assert [t.weight for t in own_nginx.routes().targets] == [0, 50]


def test_include_mode_writes_the_file_an_existing_nginx_includes(
    nginx_bin: Path, tmp_path: Path, upstream: StartUpstream
) -> None:
    blue, green = upstream("blue"), upstream("green")
    port = closed_port()
    upstream_file = tmp_path / "conf.d" / "v11ops-upstream.conf"
    router = NginxRouter.include(
        tmp_path / "state", upstream_file, tmp_path / "nginx.conf", tmp_path / "nginx.pid",
        nginx_bin=nginx_bin,
    )  # fmt: skip
    upstream_file.parent.mkdir()
    upstream_file.write_text(router.render_upstream(RouteTable((blue.target(),))))
    (tmp_path / "nginx.conf").write_text(_existing_conf(tmp_path, upstream_file, port))
    subprocess.run([str(nginx_bin), "-c", str(tmp_path / "nginx.conf")], check=True)
    try:
        assert httpx.get(f"http://127.0.0.1:{port}").json()["name"] == "blue"
        router.set_routes(RouteTable((green.target(),)))
        assert httpx.get(f"http://127.0.0.1:{port}").json()["name"] == "green"
    finally:
        pid = int((tmp_path / "nginx.pid").read_text())
        os.kill(pid, 3)  # SIGQUIT: graceful stop


def _existing_conf(tmp: Path, upstream_file: Path, port: int) -> str:
    user = "user root;" if os.geteuid() == 0 else ""
    return f"""
{user}
worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/cb; proxy_temp_path {tmp}/px;
    fastcgi_temp_path {tmp}/fc; uwsgi_temp_path {tmp}/uw; scgi_temp_path {tmp}/sc;
    include {upstream_file};
    server {{
        listen 127.0.0.1:{port};
        location / {{ proxy_pass http://v11ops_backend; proxy_http_version 1.1;
                      proxy_set_header Connection ""; }}
    }}
}}
"""
