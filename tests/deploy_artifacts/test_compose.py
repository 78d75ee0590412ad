"""deploy/docker-compose.yml: pinned images, unique host ports, health checks on real node
endpoints, and agreement with the stack's own v11ops.yaml (deploy/compose/v11ops.yaml)."""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest
import yaml

from tests.deploy_artifacts.artifacts import DEPLOY, REPO, default_config, options
from v11node.api.app import create_app
from v11node.node import Node, NodeSettings
from v11ops.config import Config, parse_config

COMPOSE = DEPLOY / "docker-compose.yml"
STACK_CONFIG = DEPLOY / "compose" / "v11ops.yaml"
MONITORING = REPO / "monitoring" / "docker-compose-monitoring.yml"
URL = re.compile(r"http://([\w.-]+):(\d+)(/[\w/.-]*)")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(data, dict)
    return data


@pytest.fixture(scope="module")
def stack_config() -> Config:
    # Validated, not loaded: its file:/run/secrets/... references exist only in the container.
    return parse_config(STACK_CONFIG.read_text(), STACK_CONFIG)


def _services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return cast(dict[str, dict[str, Any]], compose["services"])


def _config_mount(service: dict[str, Any]) -> tuple[Path, Path]:
    """(file in deploy/, path in the container) of the v11ops.yaml bind mount."""
    mount = next(v for v in service["volumes"] if v.startswith("./compose/v11ops.yaml:"))
    source, target, *_ = mount.split(":")
    return DEPLOY / source, Path(target)


def _host_ports(service: dict[str, Any]) -> list[int]:
    # "8080:8080" or "127.0.0.1:9180:9180": the host port is the one before the last colon.
    return [int(str(p).rsplit(":", 2)[-2]) for p in service.get("ports", [])]


def _node_routes() -> set[str]:
    # The routes the node's app declares; building it needs only the release string.
    settings = NodeSettings(db_url="sqlite:///unused", release="test")
    app = create_app(cast(Node, SimpleNamespace(settings=settings)))
    return {getattr(route, "path", "") for route in app.routes}


def test_the_stack_has_router_controller_postgres_and_redis(compose: dict[str, Any]) -> None:
    assert set(_services(compose)) == {"router", "controller", "postgres", "redis"}
    assert "slots blue and green run as processes inside this container" in COMPOSE.read_text()


def test_every_image_is_pinned_to_a_version(compose: dict[str, Any]) -> None:
    for name, service in _services(compose).items():
        image = re.sub(r"\$\{\w+:-([^}]+)\}", r"\1", service["image"])  # ${VAR:-default}
        assert re.search(r":\d+\.\d+(\.\d+)?(-[\w.]+)?$", image), f"{name}: {image} is not pinned"


def test_host_ports_are_unique_and_publish_the_router(
    compose: dict[str, Any], stack_config: Config
) -> None:
    ports = [p for s in _services(compose).values() for p in _host_ports(s)]
    assert len(ports) == len(set(ports))
    router = _host_ports(_services(compose)["router"])
    assert stack_config.router.metrics_listen is not None
    for address in (stack_config.router.listen, stack_config.router.metrics_listen):
        assert int(address.rsplit(":", 1)[1]) in router


def test_every_healthcheck_hits_a_health_endpoint_the_node_serves(
    compose: dict[str, Any], stack_config: Config
) -> None:
    routes = _node_routes()
    listen_port = int(stack_config.router.listen.rsplit(":", 1)[1])
    slot_ports = {stack_config.slot_port(s) for s in stack_config.slots}
    for name in ("router", "controller"):
        test = " ".join(_services(compose)[name]["healthcheck"]["test"])
        urls = URL.findall(test)
        assert urls, f"{name}: no URL in its healthcheck"
        for host, port, path in urls:
            assert host == "127.0.0.1"
            assert path == stack_config.service.health.ready and path in routes
            assert int(port) in ({listen_port} if name == "router" else slot_ports)
    for service in _services(compose).values():
        assert service["healthcheck"]["test"]


def test_stack_config_keeps_the_defaults_that_scripts_rely_on(stack_config: Config) -> None:
    default = default_config()
    assert stack_config.slots == default.slots
    assert stack_config.service.health == default.service.health
    assert stack_config.gates == default.gates
    assert stack_config.strategy == default.strategy
    # Same ports as the default; only the address differs (0.0.0.0 inside a container).
    for ours, theirs in (
        (stack_config.router.listen, default.router.listen),
        (stack_config.router.metrics_listen, default.router.metrics_listen),
    ):
        assert ours and theirs and ours.rsplit(":", 1)[1] == theirs.rsplit(":", 1)[1]
    assert stack_config.warnings() == []


def test_router_service_runs_the_router_of_the_stack_config(
    compose: dict[str, Any], stack_config: Config
) -> None:
    router = _services(compose)["router"]
    assert router["command"][:3] == ["v11ops", "router", "run"]
    opts = options(router["command"])
    assert opts["--listen"] == stack_config.router.listen
    assert opts["--admin-socket"] == str(stack_config.admin_socket_path)
    assert opts["--state-file"] == str(stack_config.state_path / "routes.json")
    assert opts["--metrics-listen"] == stack_config.router.metrics_listen
    assert int(router["stop_grace_period"].rstrip("s")) > float(opts["--shutdown-timeout"])


def test_controller_service_runs_the_mounted_stack_config(
    compose: dict[str, Any], stack_config: Config
) -> None:
    controller = _services(compose)["controller"]
    source, target = _config_mount(controller)
    assert source == STACK_CONFIG
    assert controller["command"] == ["v11ops", "controller", "run", "--file", str(target)]
    expose = {int(p) for p in controller["expose"]}
    assert expose == {stack_config.slot_port(s) for s in stack_config.slots}
    # The router reaches the slots by the controller's service name.
    assert stack_config.service.host == "controller"
    assert "--host" in stack_config.service.command  # slots listen beyond loopback


def test_router_and_controller_share_the_state_dir(
    compose: dict[str, Any], stack_config: Config
) -> None:
    for name in ("router", "controller"):
        volumes = _services(compose)[name]["volumes"]
        assert f"state:{stack_config.state_path}" in volumes, name
        assert _config_mount(_services(compose)[name])[0] == STACK_CONFIG


def test_the_slots_use_the_postgres_service_with_secrets_compose_provides(
    compose: dict[str, Any], stack_config: Config
) -> None:
    db = stack_config.service.command[stack_config.service.command.index("--db") + 1]
    assert db.startswith("postgresql://") and "@postgres:5432/" in db
    postgres = _services(compose)["postgres"]["environment"]
    assert db.endswith(f"{postgres['POSTGRES_USER']}@postgres:5432/{postgres['POSTGRES_DB']}")
    references = [v for v in stack_config.service.env.values() if v.startswith("file:")]
    assert references
    for ref in references:
        secret = Path(ref.removeprefix("file:"))
        assert secret.parent == Path("/run/secrets")
        assert secret.name in compose["secrets"]
        assert secret.name in _services(compose)["controller"]["secrets"]


def test_monitoring_stack_is_included_once_it_exists(compose: dict[str, Any]) -> None:
    reference = "../monitoring/docker-compose-monitoring.yml"
    if MONITORING.exists():
        paths = [
            entry["path"] if isinstance(entry, dict) else entry for entry in compose["include"]
        ]
        assert reference in paths, "monitoring stack exists: uncomment the include block"
    else:
        assert "include" not in compose  # `docker compose config` would fail on a missing file
        assert f"#   - path: {reference}" in COMPOSE.read_text()
