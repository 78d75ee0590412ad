"""monitoring/docker-compose-monitoring.yml, its Prometheus scrape config and Logstash pipeline:
the seed's services with pinned images and health checks, files that exist, unique ports, and
agreement with the deploy stack that includes it (deploy/docker-compose.yml)."""

from __future__ import annotations

import fnmatch
import json
import re
import shutil
import subprocess
import sys
from datetime import datetime
from pathlib import Path, PurePosixPath
from types import SimpleNamespace
from typing import Any

import pytest
import yaml

from tests.support.services import require_binary
from v11ops.config import Config, parse_config
from v11ops.monitoring.rules.params import RuleParams
from v11ops.monitoring.stack import Layout, scrape_targets, slot_job
from v11ops.runtime import ProcessRuntime

REPO = Path(__file__).resolve().parents[3]
MONITORING = REPO / "monitoring"
COMPOSE = MONITORING / "docker-compose-monitoring.yml"
DEPLOY_COMPOSE = REPO / "deploy" / "docker-compose.yml"
STACK_CONFIG = REPO / "deploy" / "compose" / "v11ops.yaml"
PROMETHEUS_CONFIG = MONITORING / "prometheus" / "prometheus.yml"
PIPELINE = MONITORING / "logstash" / "pipeline" / "v11node.conf"

MONITORING_SERVICES = {
    "prometheus", "alertmanager", "grafana", "node-exporter", "postgres-exporter",
    "redis-exporter", "nginx-exporter", "elasticsearch", "logstash", "kibana",
}  # fmt: skip
# The image has no shell or HTTP client; Prometheus's `up` of its job is its check.
NO_HEALTHCHECK = {"nginx-exporter"}
# A release tag: 1.2 (how PostgreSQL numbers releases), 1.2.3 or v1.2.3, maybe a variant.
PINNED = re.compile(r"^[\w./-]+:v?\d+\.\d+(\.\d+)?(-[\w.]+)?$")


def _load(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text())
    assert isinstance(data, dict)
    return data


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return _load(COMPOSE)


@pytest.fixture(scope="module")
def deploy() -> dict[str, Any]:
    return _load(DEPLOY_COMPOSE)


@pytest.fixture(scope="module")
def stack_config() -> Config:
    # Validated, not loaded: its file:/run/secrets/... references exist only in the container.
    return parse_config(STACK_CONFIG.read_text(), STACK_CONFIG)


def _services(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    services: dict[str, dict[str, Any]] = data["services"]
    return services


def _host_ports(service: dict[str, Any]) -> list[int]:
    # "127.0.0.1:9090:9090" or "8080:8080": the host port is the one before the last colon.
    return [int(str(p).rsplit(":", 2)[-2]) for p in service.get("ports", [])]


def _repo_mounts(service: dict[str, Any]) -> list[Path]:
    """The repository files and folders a service bind-mounts (relative sources)."""
    sources = [str(v).split(":")[0] for v in service.get("volumes", [])]
    return [COMPOSE.parent / s for s in sources if s.startswith(".")]


def _covering_mount(service: dict[str, Any], container_path: str) -> tuple[str, str] | None:
    """(source, target) of the mount that holds `container_path` in the container."""
    for volume in service.get("volumes", []):
        source, target, *_ = str(volume).split(":")
        if PurePosixPath(container_path).is_relative_to(target):
            return source, target
    return None


def test_the_stack_has_the_seeds_monitoring_services(compose: dict[str, Any]) -> None:
    assert set(_services(compose)) == MONITORING_SERVICES


def test_deploy_includes_it_and_provides_postgres_and_redis_without_a_conflict(
    compose: dict[str, Any], deploy: dict[str, Any]
) -> None:
    assert {"path": "../monitoring/docker-compose-monitoring.yml"} in deploy["include"]
    both = set(_services(compose)) & set(_services(deploy))
    assert not both, f"declared in both files (a conflict for `include`): {both}"
    assert {"postgres", "redis", "router", "controller"} <= set(_services(deploy))
    # A resource both files declare must be declared identically.
    for kind in ("volumes", "secrets"):
        for name in set(compose.get(kind, {})) & set(deploy.get(kind, {})):
            assert compose[kind][name] == deploy[kind][name], f"{kind}.{name} differs"


def test_every_image_is_pinned_to_a_release(
    compose: dict[str, Any], deploy: dict[str, Any]
) -> None:
    for name, service in {**_services(deploy), **_services(compose)}.items():
        image = service.get("image", "")
        if name in ("router", "controller"):
            continue  # v11ops's own image, versioned by the deploy stack
        assert PINNED.match(image), f"{name}: {image!r} is not pinned to a version"
        assert "latest" not in image


def test_every_mounted_repository_file_exists(compose: dict[str, Any]) -> None:
    for name, service in _services(compose).items():
        for source in _repo_mounts(service):
            assert source.exists(), f"{name} mounts {source}, which does not exist"
    rules = list((MONITORING / "prometheus" / "rules").glob("*.yml"))
    assert rules, "Prometheus loads monitoring/prometheus/rules/*.yml: there are none"


def test_secrets_are_read_from_the_deploy_stacks_secret_folder(
    compose: dict[str, Any], deploy: dict[str, Any]
) -> None:
    secret_dir = (DEPLOY_COMPOSE.parent / "secrets").resolve()
    for name, secret in compose["secrets"].items():
        assert (COMPOSE.parent / secret["file"]).resolve().parent == secret_dir, name
    exporter_password = COMPOSE.parent / compose["secrets"]["postgres_exporter_password"]["file"]
    db_password = DEPLOY_COMPOSE.parent / deploy["secrets"]["db_password"]["file"]
    assert exporter_password.resolve() == db_password.resolve()


def test_published_ports_are_unique_and_on_loopback(
    compose: dict[str, Any], deploy: dict[str, Any]
) -> None:
    services = {**_services(deploy), **_services(compose)}
    ports = [p for s in services.values() for p in _host_ports(s)]
    # node-exporter listens in the host's network: its port is taken on the host too.
    ports.append(9100)
    assert len(ports) == len(set(ports)), sorted(ports)
    for name, service in _services(compose).items():
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port} beyond loopback"


def test_every_service_has_a_healthcheck_on_its_own_port(compose: dict[str, Any]) -> None:
    for name, service in _services(compose).items():
        if name in NO_HEALTHCHECK:
            assert "healthcheck" not in service
            continue
        test = " ".join(service["healthcheck"]["test"])
        (port,) = re.findall(r"http://127\.0\.0\.1:(\d+)", test)
        declared = [str(x) for k in ("command", "ports", "expose") for x in service.get(k, [])]
        assert any(d.endswith(f":{port}") or d == port for d in declared), f"{name}: {test}"


def test_prometheus_retention_is_a_flag_not_a_config_key(compose: dict[str, Any]) -> None:
    command = _services(compose)["prometheus"]["command"]
    assert any(c.startswith("--storage.tsdb.retention.time=") for c in command)
    assert "retention" not in json.dumps(_load(PROMETHEUS_CONFIG))


def test_prometheus_config_is_valid_for_promtool(tmp_path: Path) -> None:
    promtool = require_binary("promtool")
    done = subprocess.run(
        [promtool, "check", "config", str(PROMETHEUS_CONFIG)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_scrape_jobs_are_the_ones_the_rules_query(stack_config: Config) -> None:
    jobs = {j["job_name"]: j for j in _load(PROMETHEUS_CONFIG)["scrape_configs"]}
    params = RuleParams()
    assert jobs[params.node_job]["metrics_path"] == "/q/metrics"
    assert params.node_job == slot_job(stack_config)
    assert {params.router_job, params.node_exporter_job} <= set(jobs)


def test_static_targets_are_services_of_the_stack_on_their_ports(
    compose: dict[str, Any], deploy: dict[str, Any]
) -> None:
    services = {**_services(deploy), **_services(compose)}
    for job in _load(PROMETHEUS_CONFIG)["scrape_configs"]:
        for group in job.get("static_configs", []):
            for target in group["targets"]:
                host, port = target.rsplit(":", 1)
                if host in ("localhost", "host.docker.internal"):
                    continue
                text = json.dumps(services[host])
                assert port in text, f"job {job['job_name']}: {host} does not use port {port}"


def test_the_slots_are_discovered_from_the_file_the_controller_writes(
    compose: dict[str, Any], stack_config: Config
) -> None:
    (node_job,) = [j for j in _load(PROMETHEUS_CONFIG)["scrape_configs"] if "file_sd_configs" in j]
    (path,) = node_job["file_sd_configs"][0]["files"]
    assert path == str(Layout.of(stack_config).target_file(slot_job(stack_config)))
    assert _covering_mount(_services(compose)["prometheus"], path) == ("state", "/var/lib/v11ops")
    # What the controller writes there: the slot's address on the compose network.
    slot = SimpleNamespace(name="blue", version="1.1.0", port=9003, role="live")
    groups = scrape_targets(stack_config, [slot])[node_job["job_name"]]
    assert groups == [
        {
            "targets": ["controller:9003"],
            "labels": {"slot": "blue", "version": "1.1.0", "role": "live"},
        }
    ]


def test_alertmanager_finds_its_config_and_templates(compose: dict[str, Any]) -> None:
    alertmanager = _services(compose)["alertmanager"]
    flag = next(c for c in alertmanager["command"] if c.startswith("--config.file="))
    config_path = flag.removeprefix("--config.file=")
    source, target = _covering_mount(alertmanager, config_path) or ("", "")
    local = COMPOSE.parent / source / PurePosixPath(config_path).relative_to(target)
    config = _load(local)
    for pattern in config.get("templates", []):
        assert list(local.parent.glob(pattern)), f"no template matches {pattern}"
    assert "alertmanager:9093" in PROMETHEUS_CONFIG.read_text()


def test_logstash_reads_the_files_the_slots_log_to(
    compose: dict[str, Any], stack_config: Config
) -> None:
    (pattern,) = re.findall(r'path => \["([^"]+)"\]', PIPELINE.read_text())
    slot_log = str(ProcessRuntime(stack_config.state_path).log_path("blue"))
    assert fnmatch.fnmatch(slot_log, pattern), (slot_log, pattern)
    logstash = _services(compose)["logstash"]
    assert _covering_mount(logstash, pattern) == ("state", "/var/lib/v11ops")
    assert (COMPOSE.parent / "logstash/pipeline").is_dir()
    assert 'hosts => ["http://elasticsearch:9200"]' in PIPELINE.read_text()


def test_a_node_log_line_has_the_ecs_fields_the_pipeline_relies_on() -> None:
    script = (
        "import structlog\n"
        "from v11node.logging import configure_logging\n"
        "configure_logging('aurigraph-v11-node', '1.1.0', 'blue')\n"
        "structlog.get_logger('v11node.test').info('block committed', height=7)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    record = json.loads(done.stdout.strip().splitlines()[-1])
    header = PIPELINE.read_text().split("input {")[0]
    for field in re.findall(r'"([@\w.]+)"', header):
        assert field in record, f"the pipeline expects {field!r}: {record}"
    datetime.fromisoformat(record["@timestamp"])  # ISO 8601: Logstash parses it as the time
    assert record["event.height"] == 7


def test_docker_compose_accepts_the_stack() -> None:
    docker = shutil.which("docker")
    if docker is None:
        pytest.skip("no docker CLI")
    if subprocess.run([docker, "compose", "version"], capture_output=True).returncode != 0:
        pytest.skip("the docker CLI has no compose plugin (and no engine is installed here)")
    done = subprocess.run(
        [docker, "compose", "-f", str(DEPLOY_COMPOSE), "config", "-q"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
