"""Every internal port binds to loopback (or an internal interface) in what deploy/ and
monitoring/ ship. The public listeners are named exceptions, each with its reason.

The scan reads every config file of both folders, so a new file or a new line that binds an
internal service to every interface (0.0.0.0, [::], a bare port) fails here until it is fixed
or added below with a reason.
"""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy_artifacts.artifacts import (
    DEPLOY,
    REPO,
    SYSTEMD,
    exec_argv,
    host_config,
    read_unit,
)
from v11ops.config import split_host_port

MONITORING = REPO / "monitoring"
CONFIG_SUFFIXES = {".yml", ".yaml", ".conf", ".service", ".env", ".nft"}
# Every interface: 0.0.0.0, [::], nginx's `listen 80`, Go's `--web.listen-address=:9113`.
WILDCARD = re.compile(r"\b0\.0\.0\.0\b|\[::\](?::\d+)?|listen(?:-address)?[=\s]+:?\d+\b(?![.:\d])")

PUBLIC = "the public listener: clients must reach it"
IN_CONTAINER = (
    "inside a container on the compose network (an internal interface); not published on the "
    "host, or published on 127.0.0.1 only (test_compose_publishes_only_the_router_beyond_loopback)"
)
# (file relative to the repository, the line as written, stripped) -> why it may bind widely.
ALLOWED: dict[tuple[str, str], str] = {
    ("deploy/nginx/v11ops-builtin-router.conf", "listen 80;"): PUBLIC + " (redirect to HTTPS)",
    ("deploy/nginx/v11ops-builtin-router.conf", "listen [::]:80;"): PUBLIC + " (redirect)",
    ("deploy/nginx/v11ops-builtin-router.conf", "listen 443 ssl http2;"): PUBLIC + " (TLS)",
    ("deploy/nginx/v11ops-builtin-router.conf", "listen [::]:443 ssl http2;"): PUBLIC,
    ("deploy/nginx/v11ops.conf", "listen 80;"): PUBLIC + " (redirect to HTTPS)",
    ("deploy/nginx/v11ops.conf", "listen [::]:80;"): PUBLIC + " (redirect)",
    ("deploy/nginx/v11ops.conf", "listen 443 ssl http2;"): PUBLIC + " (TLS)",
    ("deploy/nginx/v11ops.conf", "listen [::]:443 ssl http2;"): PUBLIC,
    # The router container's --listen: the public router listener of the compose stack.
    ("deploy/docker-compose.yml", "- 0.0.0.0:8080"): PUBLIC + " (router.listen, compose)",
    ("deploy/compose/v11ops.yaml", "listen: 0.0.0.0:8080"): PUBLIC + " (router.listen)",
    ("deploy/docker-compose.yml", "- 0.0.0.0:9180"): IN_CONTAINER + ": router metrics",
    (
        "deploy/compose/v11ops.yaml",
        "metrics_listen: 0.0.0.0:9180     # Prometheus on the compose network scrapes router:9180",
    ): IN_CONTAINER + ": router metrics",
    ("deploy/compose/v11ops.yaml", '- "0.0.0.0"'): IN_CONTAINER + ": the slots (node --host)",
    (
        "monitoring/docker-compose-monitoring.yml",
        "- --web.listen-address=0.0.0.0:9090",
    ): IN_CONTAINER + ": Prometheus",
    (
        "monitoring/docker-compose-monitoring.yml",
        "- --web.listen-address=0.0.0.0:9093",
    ): IN_CONTAINER + ": Alertmanager",
    ("monitoring/docker-compose-monitoring.yml", "- --web.listen-address=:9113"): (
        IN_CONTAINER + ": nginx exporter"
    ),
}
# Compose services whose wide binds above are inside their own container.
CONTAINER_SERVICES = {"router", "controller", "prometheus", "alertmanager", "nginx-exporter"}
# The Docker bridge's default address (host.docker.internal): an internal interface.
DOCKER_BRIDGE = ipaddress.ip_address("172.17.0.1")


def config_files() -> list[Path]:
    files = [*DEPLOY.rglob("*"), *MONITORING.rglob("*")]
    return sorted(p for p in files if p.is_file() and p.suffix in CONFIG_SUFFIXES)


def wildcard_binds() -> list[tuple[str, str]]:
    """(file, stripped line) of every wide bind outside comments."""
    found = []
    for path in config_files():
        for raw in path.read_text().splitlines():
            line = raw.strip()
            if line.startswith(("#", ";")) or not WILDCARD.search(line):
                continue
            found.append((str(path.relative_to(REPO)), line))
    return found


def test_the_scan_reads_every_kind_of_shipped_config() -> None:
    names = {p.name for p in config_files()}
    assert {"v11ops-router.service", "docker-compose.yml", "v11ops.nft", "v11ops.conf"} <= names
    assert {"docker-compose-monitoring.yml", "prometheus.yml", "alertmanager.yml"} <= names


@pytest.mark.parametrize(
    "line",
    ["listen 80;", "--listen 0.0.0.0:8080", "listen [::]:443 ssl;", "--web.listen-address=:9100"],
)
def test_the_scan_recognises_a_wide_bind(line: str) -> None:
    assert WILDCARD.search(line)


@pytest.mark.parametrize(
    "line", ["--listen 127.0.0.1:8080", "listen 127.0.0.1:8081;", "targets: ['router:9180']"]
)
def test_the_scan_leaves_a_loopback_bind_alone(line: str) -> None:
    assert not WILDCARD.search(line)


def test_no_internal_service_binds_to_every_interface() -> None:
    unexplained = [hit for hit in wildcard_binds() if hit not in ALLOWED]
    assert not unexplained, "bind to loopback, or add it to ALLOWED with a reason"


def test_every_named_exception_is_still_there() -> None:
    # A stale entry would silently allow the next line that happens to read the same.
    assert set(ALLOWED) <= set(wildcard_binds())


def _compose(path: Path) -> dict[str, dict[str, Any]]:
    services: dict[str, dict[str, Any]] = yaml.safe_load(path.read_text())["services"]
    return services


COMPOSE_FILES = (DEPLOY / "docker-compose.yml", MONITORING / "docker-compose-monitoring.yml")


@pytest.mark.parametrize("path", COMPOSE_FILES, ids=lambda p: p.name)
def test_compose_publishes_only_the_router_beyond_loopback(path: Path) -> None:
    for name, service in _compose(path).items():
        for port in service.get("ports", []):
            if (name, str(port)) == ("router", "8080:8080"):
                continue  # router.listen: the public service port
            assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port} beyond loopback"


@pytest.mark.parametrize("path", COMPOSE_FILES, ids=lambda p: p.name)
def test_wide_binds_in_compose_are_inside_containers_not_the_hosts_network(path: Path) -> None:
    for name, service in _compose(path).items():
        if name in CONTAINER_SERVICES:
            assert service.get("network_mode") != "host", name


def test_the_node_exporter_in_the_hosts_network_binds_loopback_and_the_docker_bridge() -> None:
    exporter = _compose(MONITORING / "docker-compose-monitoring.yml")["node-exporter"]
    assert exporter["network_mode"] == "host"
    listens = [a.split("=", 1)[1] for a in exporter["command"] if "listen-address" in a]
    hosts = {split_host_port(re.sub(r"\$\{\w+:-([^}]+)\}", r"\1", a))[0] for a in listens}
    assert {ipaddress.ip_address(h) for h in hosts} == {
        ipaddress.ip_address("127.0.0.1"),
        DOCKER_BRIDGE,
    }


def test_every_listen_address_of_the_installed_config_is_loopback() -> None:
    config = host_config()
    listens = {
        "router.listen": config.router.listen,
        "router.metrics_listen": config.router.metrics_listen,
        "monitoring.prometheus.listen": config.monitoring.prometheus.listen,
        "monitoring.alertmanager.listen": config.monitoring.alertmanager.listen,
        "monitoring.node_exporter.listen": config.monitoring.node_exporter.listen,
    }
    for field, address in listens.items():
        assert address is not None, field
        assert ipaddress.ip_address(split_host_port(address)[0]).is_loopback, field
    # The controller's listener: `auto` picks a loopback port.
    assert config.monitoring.webhook.listen == "auto"
    assert ipaddress.ip_address(config.service.host).is_loopback
    assert "0.0.0.0" not in config.service.command and "--host" not in config.service.command


@pytest.mark.parametrize("unit", sorted(SYSTEMD.glob("*.service")), ids=lambda p: p.name)
def test_systemd_units_bind_loopback_only(unit: Path) -> None:
    # The node template passes no --host: `v11ops node run` listens on 127.0.0.1 by default.
    argv = exec_argv(read_unit(unit), {"V11_PORT": "9003", "V11_DB": "x", "V11_RELEASE": "1"})
    for i, arg in enumerate(argv):
        if "listen" in arg or arg == "--host":
            address = argv[i + 1]
            host = split_host_port(address)[0] if ":" in address else address
            assert ipaddress.ip_address(host).is_loopback, f"{unit.name}: {arg} {address}"
