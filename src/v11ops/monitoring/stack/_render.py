"""Render the Prometheus and Alertmanager configs into the state directory.

Prometheus loads the repository's rule files where they are (no copy) and finds its targets in
the file-SD files. Alertmanager starts from the repository's routing config, with one route put
first: alerts about a slot go (also) to the controller, which may roll the release back.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from v11ops.config import Config
from v11ops.monitoring.bundled import BUILTIN, bundled_monitoring_dir
from v11ops.monitoring.stack._errors import MonitoringConfigError
from v11ops.monitoring.stack._layout import Layout
from v11ops.monitoring.stack._listener import listener_token, listener_url
from v11ops.monitoring.stack._targets import JOB_CONTROLLER, JOB_ROUTER, scrape_targets, slot_job

CONTROLLER_RECEIVER = "v11ops-controller"
WEBHOOK_PATH = "/alertmanager/webhook"


def duration(seconds: float) -> str:
    """Seconds as a Prometheus duration: 15 -> `15s`, 0.5 -> `500ms`."""
    return f"{seconds:g}s" if float(seconds).is_integer() else f"{round(seconds * 1000)}ms"


def rules_folder(config: Config) -> Path | None:
    """The folder of rule files, or None when the config turns rules off."""
    rules = config.monitoring.prometheus.rules
    if rules is None:
        return None
    folder = _source(config, rules, "prometheus/rules")
    if not folder.is_dir():
        raise MonitoringConfigError(
            f"monitoring.prometheus.rules: folder {folder} does not exist; point it at the "
            "rules (monitoring/prometheus/rules in the v11ops repository, or a folder written by "
            "`v11ops monitoring rules render --out DIR`), or set it to null for no rules"
        )
    return folder


def prometheus_config(config: Config) -> dict[str, Any]:
    mon = config.monitoring
    layout = Layout.of(config)
    folder = rules_folder(config)
    jobs = []
    for job in scrape_targets(config, []):
        scrape: dict[str, Any] = {
            "job_name": job,
            "metrics_path": mon.metrics_path if job == slot_job(config) else "/metrics",
            "file_sd_configs": [{"files": [str(layout.target_file(job))]}],
        }
        if job == JOB_CONTROLLER:
            if listener_url(config) is None:
                continue
            scrape["authorization"] = {"type": "Bearer", "credentials": listener_token(config)}
        if job == JOB_ROUTER and not config.router.metrics_listen:
            continue
        jobs.append(scrape)
    return {
        "global": {
            "scrape_interval": duration(mon.prometheus.scrape_interval_s),
            "evaluation_interval": duration(mon.prometheus.evaluation_interval_s),
        },
        "rule_files": [str(folder / "*.yml"), str(folder / "*.yaml")] if folder else [],
        "alerting": {
            "alertmanagers": [{"static_configs": [{"targets": [mon.alertmanager.listen]}]}]
        },
        "scrape_configs": jobs,
    }


def alertmanager_config(config: Config) -> dict[str, Any]:
    """The routing config with the controller's receiver in front (when its listener is on)."""
    base, base_dir = _alertmanager_base(config)
    am: dict[str, Any] = _absolute_paths(base, base_dir)
    url = listener_url(config)
    if url is None:
        return am
    severities = "|".join(config.monitoring.window_alerts.severities)
    am.setdefault("receivers", [])
    am["receivers"] = [r for r in am["receivers"] if r.get("name") != CONTROLLER_RECEIVER]
    am["receivers"].append({
        "name": CONTROLLER_RECEIVER,
        "webhook_configs": [{
            "url": url + WEBHOOK_PATH,
            "send_resolved": True,
            "http_config": {
                "authorization": {"type": "Bearer", "credentials": listener_token(config)}
            },
        }],
    })  # fmt: skip
    route = am.setdefault("route", {"receiver": "none"})
    # First, and `continue`: the alert still reaches the receivers the base config routes it to.
    route["routes"] = [
        {
            "receiver": CONTROLLER_RECEIVER,
            "matchers": ['slot=~".+"', 'version=~".+"', f'severity=~"{severities}"'],
            "group_by": ["alertname", "slot", "version"],
            "group_wait": "0s",  # a rollback waits for nobody
            "group_interval": "5s",
            "repeat_interval": "1m",  # a restarted controller learns what still fires
            "continue": True,
        },
        *(r for r in route.get("routes", []) if r.get("receiver") != CONTROLLER_RECEIVER),
    ]
    return am


def render_yaml(data: dict[str, Any]) -> str:
    return "# Rendered by `v11ops monitor up`; edits are overwritten.\n" + yaml.safe_dump(
        data, sort_keys=False
    )


def _alertmanager_base(config: Config) -> tuple[dict[str, Any], Path]:
    source = config.monitoring.alertmanager.config
    if source is None:
        return {"route": {"receiver": "none"}, "receivers": [{"name": "none"}]}, config.config_dir
    path = _source(config, source, "alertmanager/alertmanager.yml")
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise MonitoringConfigError(
            f"monitoring.alertmanager.config: cannot read {path} ({exc.strerror}); point it at "
            "the routing config (monitoring/alertmanager/alertmanager.yml in the v11ops "
            "repository), or null for none"
        ) from None
    except yaml.YAMLError as exc:
        raise MonitoringConfigError(f"{path}: not valid YAML ({exc})") from None
    if not isinstance(data, dict):
        raise MonitoringConfigError(f"{path}: expected a mapping (an Alertmanager config)")
    return data, path.parent


def _absolute_paths(value: Any, base: Path) -> Any:
    """Alertmanager reads `templates` and `*_file` paths relative to its config file; the
    rendered file lives elsewhere, so they become absolute."""
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if key == "templates" and isinstance(item, list):
                out[key] = [str(base / t) for t in item]
            elif str(key).endswith("_file") and isinstance(item, str):
                out[key] = str(base / item)
            else:
                out[key] = _absolute_paths(item, base)
        return out
    if isinstance(value, list):
        return [_absolute_paths(item, base) for item in value]
    return value


def _source(config: Config, setting: str, bundled: str) -> Path:
    """A configured path relative to the config file, or `builtin`: the files v11ops ships."""
    if setting != BUILTIN:
        return (config.config_dir / setting).resolve()
    folder = bundled_monitoring_dir()
    if folder is None:
        raise MonitoringConfigError(
            "this v11ops install has no monitoring files to use as `builtin`; point "
            "monitoring.prometheus.rules and monitoring.alertmanager.config at your own"
        )
    return folder / bundled
