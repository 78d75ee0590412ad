"""Rendering: the Prometheus and Alertmanager configs, file-SD targets, the listener's secrets."""

from __future__ import annotations

import json
import os
import stat
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.monitoring.stack.support import minimal_config, monitoring_yaml
from tests.support.services import require_binary
from v11ops.config import Config, load_config
from v11ops.deploy.state import SlotState
from v11ops.monitoring.stack import (
    CONTROLLER_RECEIVER,
    Layout,
    MissingBinary,
    MonitoringConfigError,
    listener_address,
    listener_token,
    write_scrape_targets,
)
from v11ops.monitoring.stack._components import Component
from v11ops.monitoring.stack._render import alertmanager_config, prometheus_config, render_yaml

BASE_ALERTMANAGER = """\
route:
  receiver: tickets
  group_by: [alertname]
  routes:
    - receiver: pager
      matchers: ['priority="P0"']
receivers:
  - name: tickets
  - name: pager
    webhook_configs:
      - url: http://127.0.0.1:1/page
templates: [templates/*.tmpl]
"""


@pytest.fixture
def config(tmp_path: Path) -> Config:
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "a.yml").write_text(
        "groups:\n- name: t\n  rules:\n  - alert: Up\n    expr: up == 1\n"
        "    labels: {severity: critical}\n"
    )
    (tmp_path / "am").mkdir()
    (tmp_path / "am" / "alertmanager.yml").write_text(BASE_ALERTMANAGER)
    section = monitoring_yaml(rules="rules", alertmanager_config="am/alertmanager.yml")
    return load_config(minimal_config(tmp_path, section))


def test_prometheus_loads_the_rules_in_place_and_finds_every_job_by_file_sd(
    config: Config,
) -> None:
    rendered = prometheus_config(config)
    assert rendered["rule_files"][0] == str(config.config_dir / "rules" / "*.yml")
    jobs = {job["job_name"]: job for job in rendered["scrape_configs"]}
    # The router's metrics are off in this config: no job for them.
    assert set(jobs) == {"aurigraph-v11-node", "prometheus", "alertmanager", "node",
                         "v11ops-controller"}  # fmt: skip
    assert jobs["aurigraph-v11-node"]["metrics_path"] == "/q/metrics"
    layout = Layout.of(config)
    for name, job in jobs.items():
        assert job["file_sd_configs"] == [{"files": [str(layout.target_file(name))]}]
    token = listener_token(config)
    assert jobs["v11ops-controller"]["authorization"] == {"type": "Bearer", "credentials": token}
    assert rendered["global"]["scrape_interval"] == "500ms"
    assert rendered["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] == [
        config.monitoring.alertmanager.listen
    ]


def test_alertmanager_sends_alerts_about_a_slot_to_the_controller_first_and_keeps_routing(
    config: Config,
) -> None:
    rendered = alertmanager_config(config)
    first, *rest = rendered["route"]["routes"]
    assert first["receiver"] == CONTROLLER_RECEIVER and first["continue"] is True
    assert 'severity=~"critical"' in first["matchers"] and 'slot=~".+"' in first["matchers"]
    assert [r["receiver"] for r in rest] == ["pager"]
    controller = next(r for r in rendered["receivers"] if r["name"] == CONTROLLER_RECEIVER)
    webhook = controller["webhook_configs"][0]
    host, port = listener_address(config) or ("", 0)
    assert webhook["url"] == f"http://{host}:{port}/alertmanager/webhook"
    assert webhook["http_config"]["authorization"]["credentials"] == listener_token(config)
    # Paths of the base file stay valid from the state directory.
    assert rendered["templates"] == [str(config.config_dir / "am" / "templates" / "*.tmpl")]


def test_the_rendered_configs_pass_promtool_and_amtool(config: Config, tmp_path: Path) -> None:
    for binary, args, data in (
        ("promtool", ["check", "config"], prometheus_config(config)),
        ("amtool", ["check-config"], alertmanager_config(config)),
    ):
        path = tmp_path / f"{binary}.yml"
        path.write_text(render_yaml(data))
        run = subprocess.run([require_binary(binary), *args, str(path)], capture_output=True,
                             text=True, timeout=60)  # fmt: skip
        assert run.returncode == 0, run.stdout + run.stderr


def test_a_missing_rules_folder_is_an_error_naming_the_setting(tmp_path: Path) -> None:
    config = load_config(minimal_config(tmp_path, monitoring_yaml(rules="nowhere")))
    with pytest.raises(
        MonitoringConfigError, match=r"monitoring.prometheus.rules: folder .*nowhere"
    ):
        prometheus_config(config)


def test_without_a_routing_config_only_the_controller_receives(tmp_path: Path) -> None:
    config = load_config(minimal_config(tmp_path, monitoring_yaml()))
    rendered = alertmanager_config(config)
    assert rendered["route"]["receiver"] == "none"
    assert [r["name"] for r in rendered["receivers"]] == ["none", CONTROLLER_RECEIVER]


def test_a_missing_program_names_the_apt_package() -> None:
    part = Component("alertmanager", "no-such-alertmanager", "prometheus-alertmanager",
                     "127.0.0.1:1", "/-/ready", ())  # fmt: skip
    with pytest.raises(MissingBinary) as info:
        part.executable()
    assert str(info.value) == (
        "no-such-alertmanager is not installed; install it with "
        "`sudo apt-get install prometheus-alertmanager`"
    )


def test_running_slots_are_targets_labelled_with_slot_version_and_role(config: Config) -> None:
    slots = [
        SlotState("blue", "1.0.0", 9003, "warm"),
        SlotState("green", "1.1.0", 9004, "live"),
        SlotState("spare", None, None, "idle"),
    ]
    assert "aurigraph-v11-node" in write_scrape_targets(config, slots)
    path = Layout.of(config).target_file("aurigraph-v11-node")
    assert json.loads(path.read_text()) == [
        {"targets": ["127.0.0.1:9003"], "labels": {"slot": "blue", "version": "1.0.0",
                                                     "role": "warm"}},
        {"targets": ["127.0.0.1:9004"], "labels": {"slot": "green", "version": "1.1.0",
                                                     "role": "live"}},
    ]  # fmt: skip
    # Unchanged targets are not rewritten (Prometheus is not woken for nothing).
    assert write_scrape_targets(config, slots) == []
    assert write_scrape_targets(config, slots[1:]) == ["aurigraph-v11-node"]


def test_the_listener_address_and_token_are_chosen_once_and_kept_private(config: Config) -> None:
    address, token = listener_address(config), listener_token(config)
    assert address is not None and address[0] == "127.0.0.1"
    assert (listener_address(config), listener_token(config)) == (address, token)
    assert len(token) >= 32
    mode = stat.S_IMODE(os.stat(Layout.of(config).token_file).st_mode)
    assert mode == 0o600


def test_a_token_reference_is_resolved_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    section = monitoring_yaml() + "    token: env:TEST_V11OPS_WEBHOOK_TOKEN\n"
    monkeypatch.setenv("TEST_V11OPS_WEBHOOK_TOKEN", "from-the-environment")
    config = load_config(minimal_config(tmp_path, section))
    assert listener_token(config) == "from-the-environment"
    assert not Layout.of(config).token_file.exists()


def test_rendered_files_are_yaml_marked_as_generated(config: Config) -> None:
    text = render_yaml(prometheus_config(config))
    assert text.startswith("# Rendered by `v11ops monitor up`")
    assert yaml.safe_load(text)["scrape_configs"]
