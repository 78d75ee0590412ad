"""Rendering the monitoring stack's configs: every bad `monitoring:` path is a
MonitoringConfigError naming the setting; no rules and no webhook leave their parts out."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.monitoring.stack.support import minimal_config, monitoring_yaml
from v11ops.config import Config, load_config
from v11ops.monitoring.stack import MonitoringConfigError
from v11ops.monitoring.stack import _render as render
from v11ops.monitoring.stack._render import alertmanager_config, prometheus_config


def config_with(tmp_path: Path, **settings: str | None) -> Config:
    return load_config(minimal_config(tmp_path, monitoring_yaml(**settings)))  # type: ignore[arg-type]


def test_without_rules_and_without_the_webhook_prometheus_has_neither(tmp_path: Path) -> None:
    config = config_with(tmp_path, rules=None, webhook="null")
    prom = prometheus_config(config)
    assert prom["rule_files"] == []
    jobs = {job["job_name"] for job in prom["scrape_configs"]}
    assert "v11ops-controller" not in jobs and "v11ops-router" not in jobs  # no metrics_listen
    am = alertmanager_config(config)
    assert am == {"route": {"receiver": "none"}, "receivers": [{"name": "none"}]}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (None, "monitoring.alertmanager.config: cannot read"),
        ("route: [unclosed\n", "not valid YAML"),
        ("- a list\n", r"expected a mapping \(an Alertmanager config\)"),
    ],
)  # fmt: skip
def test_a_bad_alertmanager_config_file_is_named(
    tmp_path: Path, text: str | None, message: str
) -> None:
    if text is not None:
        (tmp_path / "am.yml").write_text(text)
    config = config_with(tmp_path, alertmanager_config="am.yml")
    with pytest.raises(MonitoringConfigError, match=message):
        alertmanager_config(config)


def test_template_and_file_paths_become_absolute_and_an_old_controller_route_is_replaced(
    tmp_path: Path,
) -> None:
    (tmp_path / "am").mkdir()
    (tmp_path / "am" / "alertmanager.yml").write_text(
        "route:\n  receiver: ops\n  routes:\n    - {receiver: v11ops-controller}\n"
        "    - {receiver: ops}\n"
        "receivers:\n  - name: ops\n    slack_configs: [{api_url_file: secret/slack}]\n"
        "  - name: v11ops-controller\n"
        "templates: [tpl/*.tmpl]\n"
    )
    am = alertmanager_config(config_with(tmp_path, alertmanager_config="am/alertmanager.yml"))
    base = tmp_path / "am"
    assert am["templates"] == [str(base / "tpl/*.tmpl")]
    assert am["receivers"][0]["slack_configs"][0]["api_url_file"] == str(base / "secret/slack")
    assert [r["name"] for r in am["receivers"]] == ["ops", "v11ops-controller"]
    routes = [r["receiver"] for r in am["route"]["routes"]]
    assert routes == ["v11ops-controller", "ops"]  # ours first, once


def test_builtin_files_missing_from_the_install_is_an_error_saying_what_to_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(render, "bundled_monitoring_dir", lambda: None)
    config = config_with(tmp_path, rules="builtin")
    with pytest.raises(MonitoringConfigError, match="no monitoring files to use as `builtin`"):
        prometheus_config(config)


def test_builtin_rules_are_the_shipped_ones(tmp_path: Path) -> None:
    prom = prometheus_config(config_with(tmp_path, rules="builtin"))
    assert prom["rule_files"][0].endswith("prometheus/rules/*.yml")
