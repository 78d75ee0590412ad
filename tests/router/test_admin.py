"""Admin API, metrics listener, persistence across restarts."""

from __future__ import annotations

import stat
from pathlib import Path

import httpx
import pytest

from tests.router.conftest import StartRouter, StartUpstream
from tests.router.harness import LoopThread, start_router
from v11ops.router import (
    RouterClient,
    RouterConfig,
    RouterConfigError,
    RouterError,
    RouterRejected,
    RouterServer,
    RouterUnavailable,
    RouteTable,
    Target,
)


def _admin(r_socket: Path) -> httpx.Client:
    return httpx.Client(transport=httpx.HTTPTransport(uds=str(r_socket)), base_url="http://router")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{not json", "not valid JSON"),
        (b"", "empty"),
        (b'{"targets": [{"name": "green", "url": "http://127.0.0.1"}]}', "HOST:PORT"),
        (b'{"targets": [{"name": "green", "url": "http://127.0.0.1:1", "weight": -5}]}', "weight"),
        (b'{"targets": {"green": 1}}', "'targets' must be a list"),
        (b'{"targets": [], "extra": 1}', "unknown field 'extra'"),
    ],
)
def test_bad_admin_input_is_rejected_and_changes_nothing(
    upstream: StartUpstream, router: StartRouter, body: bytes, message: str
) -> None:
    blue = upstream("blue")
    r = router(blue.target())
    saved = r.state_file.read_bytes()
    with _admin(r.socket_path) as admin:
        before = admin.get("/routes").json()
        response = admin.put("/routes", content=body)
        assert response.status_code == 400
        assert message in response.json()["error"]
        assert admin.get("/routes").json() == before
    assert r.state_file.read_bytes() == saved
    assert httpx.get(r.url).json()["name"] == "blue"


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "message"),
    [
        ("POST", "/drain", {"target": "purple"}, 404, "no target 'purple'"),
        ("POST", "/drain", {"target": "blue", "timeout_s": -1}, 400, "timeout_s"),
        ("POST", "/drain", {"timeout_s": 1}, 400, "'target'"),
        ("POST", "/undrain", [1], 400, "JSON object"),
        ("GET", "/nope", None, 404, "no such endpoint"),
        ("DELETE", "/routes", None, 405, "not allowed"),
    ],
)
def test_admin_errors_name_what_was_wrong(
    upstream: StartUpstream,
    router: StartRouter,
    method: str,
    path: str,
    body: object,
    status: int,
    message: str,
) -> None:
    r = router(upstream("blue").target())
    with _admin(r.socket_path) as admin:
        response = admin.request(method, path, json=body)
    assert response.status_code == status
    assert message in response.json()["error"]


def test_a_switch_with_a_stale_expected_revision_is_refused(
    upstream: StartUpstream, router: StartRouter
) -> None:
    blue, green = upstream("blue"), upstream("green")
    r = router(blue.target())
    client = r.client()
    revision = client.get_routes().revision
    client.set_routes(RouteTable((green.target(),)), expect_revision=revision)
    with pytest.raises(RouterRejected, match="revision") as error:
        client.set_routes(RouteTable((blue.target(),)), expect_revision=revision)
    assert error.value.status == 409
    assert client.get_routes().targets == (green.target(),)


def test_router_restart_restores_routes_from_the_state_file(
    loop: LoopThread, upstream: StartUpstream, short_dir: Path
) -> None:
    blue, green = upstream("blue"), upstream("green")
    first = loop.run(start_router(short_dir, RouteTable((blue.target(),))))
    with RouterClient(short_dir / "admin.sock") as client:
        table = client.set_routes(RouteTable((green.target(90), blue.target(10))))
    loop.run(first.stop())
    # The initial table is only for a router without a state file: the saved one wins.
    second = loop.run(start_router(short_dir, RouteTable((blue.target(),))))
    try:
        with RouterClient(short_dir / "admin.sock") as client:
            assert client.get_routes() == table
        assert httpx.get(f"http://127.0.0.1:{second.port}").json()["name"] == "green"
    finally:
        loop.run(second.stop())


def test_admin_socket_is_private_and_a_second_router_cannot_take_it(
    loop: LoopThread, upstream: StartUpstream, router: StartRouter, short_dir: Path
) -> None:
    r = router(upstream("blue").target())
    assert stat.S_IMODE(r.socket_path.stat().st_mode) == 0o600
    with pytest.raises(RouterError, match="already serving"):
        loop.run(start_router(short_dir))


def test_client_reports_an_unreachable_router_clearly(short_dir: Path) -> None:
    with (
        RouterClient(short_dir / "missing.sock") as client,
        pytest.raises(RouterUnavailable, match="is `v11ops router run` running"),
    ):
        client.health()


def test_admin_over_tcp_requires_the_bearer_token(
    upstream: StartUpstream, router: StartRouter
) -> None:
    r = router(upstream("blue").target(), admin_token="s3cret")
    base = f"http://127.0.0.1:{r.server.admin_port}"
    assert httpx.get(f"{base}/routes").status_code == 401
    assert httpx.get(f"{base}/routes", headers={"authorization": "Bearer nope"}).status_code == 401
    with RouterClient(base_url=base, token="s3cret") as client:
        assert client.health()["status"] == "ok"
        assert client.get_routes().targets[0].name == "blue"


def test_metrics_and_health_are_served_on_their_own_listener(
    upstream: StartUpstream, router: StartRouter
) -> None:
    blue = upstream("blue")
    r = router(blue.target(), metrics=True)
    httpx.get(r.url)
    httpx.get(f"{r.url}/metrics")  # the service's own /metrics goes to the service
    base = f"http://127.0.0.1:{r.server.metrics_port}"
    text = httpx.get(f"{base}/metrics").text
    target = f'target="127.0.0.1:{blue.port}"'
    assert (
        f'v11ops_router_requests_total{{code="200",slot="blue",{target},version="1"}} 2.0' in text
    )
    for name in (
        "v11ops_router_request_duration_seconds_bucket",
        "v11ops_router_in_flight",
        "v11ops_router_switches_total 1.0",
        "v11ops_router_retries_total 0.0",
        "v11ops_router_upstream_errors_total",
    ):
        assert name in text
    assert httpx.get(f"{base}/health").json() == {"status": "ok"}
    assert httpx.get(f"{base}/other").status_code == 404


def test_health_and_stats_through_the_client(upstream: StartUpstream, router: StartRouter) -> None:
    blue = upstream("blue")
    r = router(blue.target(), Target("green", "http://127.0.0.1:1", 0))
    client = r.client()
    assert client.health() == {"status": "ok", "revision": 1, "active_targets": 1, "in_flight": 0}
    before = client.stats()
    for _ in range(5):
        httpx.get(r.url)
    window = client.stats().since(before)
    assert window.slot("blue").requests == 5
    assert window.slot("blue").responses_5xx == 0
    assert window.slot("green").requests == 0


@pytest.mark.parametrize(
    ("admin_listen", "token", "message"),
    [
        (("0.0.0.0", 9999), "t", "not a loopback address"),
        (("127.0.0.1", 9999), None, "needs --admin-token-file"),
    ],
)
def test_tcp_admin_must_be_loopback_and_token_protected(
    short_dir: Path, admin_listen: tuple[str, int], token: str | None, message: str
) -> None:
    config = RouterConfig(
        state_file=short_dir / "s.json", admin_listen=admin_listen, admin_token=token
    )
    with pytest.raises(RouterConfigError, match=message):
        RouterServer(config)
