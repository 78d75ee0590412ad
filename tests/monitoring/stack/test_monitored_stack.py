"""`monitor up` next to a running stack: Prometheus scrapes every slot (labelled slot/version),
the router, the controller and node-exporter from file-SD files that follow each switch, and an
alert about a new release, through real Prometheus and Alertmanager, rolls it back."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.monitoring.stack.support import monitoring_yaml, require_stack_binaries, wait_for
from tests.support.stack import Stack, make_stack
from v11ops.config import Config, load_config
from v11ops.deploy.client import ControllerClient, controller_socket
from v11ops.monitoring import stack as monitoring
from v11ops.runtime import free_port

pytestmark = pytest.mark.slow

# Fires as soon as a release named `slow` is scraped: an alert about that release.
RULES = """\
groups:
  - name: test
    rules:
      - alert: SlowReleaseServing
        expr: up{job="aurigraph-v11-node", version="slow"} == 1
        labels: {severity: critical, priority: P0}
        annotations: {summary: "release {{ $labels.version }} serves on {{ $labels.slot }}"}
"""


@pytest.fixture(scope="module")
def monitored(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Stack, Config]]:
    require_stack_binaries()
    root = tmp_path_factory.mktemp("monitored")
    (root / "rules").mkdir()
    (root / "rules" / "test.yml").write_text(RULES)
    s = make_stack(root, window_s=10.0, top=monitoring_yaml(rules="rules"))
    s.config.write_text(s.config.read_text().replace(
        "metrics_listen: null", f"metrics_listen: 127.0.0.1:{free_port()}"))  # fmt: skip
    config = load_config(s.config)
    try:
        up = s.cli("up", "--version", "1.0.0")
        assert up.returncode == 0, up.stdout + up.stderr
        monitoring.up(config)
        yield s, config
    finally:
        monitoring.down(config)
        s.cli("down", timeout=120)


def targets(config: Config) -> list[dict[str, Any]]:
    url = f"http://{config.monitoring.prometheus.listen}/api/v1/targets?state=active"
    return list(httpx.get(url, timeout=5).json()["data"]["activeTargets"])


def node_targets(config: Config) -> dict[tuple[str, str, str], str]:
    """(slot, version, role) -> health of each scraped slot."""
    return {
        (t["labels"]["slot"], t["labels"]["version"], t["labels"]["role"]): t["health"]
        for t in targets(config)
        if t["labels"]["job"] == "aurigraph-v11-node"
    }


def wait_done(controller: ControllerClient, dep: int) -> dict[str, Any]:
    done = ("succeeded", "failed", "rolled_back", "aborted")
    return dict(wait_for(lambda: (d := controller.deployment(dep))["status"] in done and d,
                         timeout_s=60, what=f"deployment {dep} finished"))  # fmt: skip


def test_prometheus_scrapes_the_slots_router_controller_and_node_exporter(
    monitored: tuple[Stack, Config],
) -> None:
    s, config = monitored
    slot, version = s.live()

    def all_up() -> bool:
        health = {t["labels"]["job"]: t["health"] for t in targets(config)}
        return set(health.values()) == {"up"} and len(health) == 6

    wait_for(all_up, what="every job has its target up")
    assert node_targets(config) == {(slot, version, "live"): "up"}
    # The controller's metrics need the token; Prometheus has it.
    query = f"http://{config.monitoring.prometheus.listen}/api/v1/query"
    wait_for(lambda: httpx.get(query, params={"query": "v11ops_alert_webhooks_total or "
             "up{job='v11ops-controller'} == 1"}).json()["data"]["result"])  # fmt: skip


def test_a_switch_rewrites_the_file_sd_targets(monitored: tuple[Stack, Config]) -> None:
    s, config = monitored
    old_slot, old_version = s.live()
    sd_file = monitoring.Layout.of(config).target_file("aurigraph-v11-node")
    with ControllerClient(controller_socket(config)) as controller:
        dep = controller.deploy("1.1.0")
        wait_for(lambda: controller.deployment(dep)["candidate_slot"])
        new_slot = controller.deployment(dep)["candidate_slot"]
        switched = {(new_slot, "1.1.0", "live"), (old_slot, old_version, "warm")}

        def labels_in_file() -> set[tuple[str, str, str]]:
            groups = json.loads(sd_file.read_text())
            return {(g["labels"]["slot"], g["labels"]["version"], g["labels"]["role"])
                    for g in groups}  # fmt: skip

        wait_for(lambda: labels_in_file() == switched, what="the file-SD file follows the switch")
        wait_for(lambda: node_targets(config) == dict.fromkeys(switched, "up"),
                 what="Prometheus scrapes both slots with their new roles")  # fmt: skip
        assert wait_done(controller, dep)["status"] == "succeeded"


def test_an_alert_through_prometheus_and_alertmanager_rolls_the_release_back(
    monitored: tuple[Stack, Config],
) -> None:
    s, config = monitored
    before = s.live()
    with ControllerClient(controller_socket(config)) as controller:
        detail = wait_done(controller, controller.deploy("slow"))
    assert detail["status"] == "rolled_back", detail["reason"]
    assert s.live() == before
    window = next(v for v in detail["verdicts"] if v["gate"] == "post_switch_window")
    observed = window["evidence"][0]["observed"]
    assert observed["alertname"] == "SlowReleaseServing"
    assert observed["labels"]["version"] == "slow"
    assert observed["labels"]["slot"] == detail["candidate_slot"]
    assert observed["summary"] == f"release slow serves on {detail['candidate_slot']}"
