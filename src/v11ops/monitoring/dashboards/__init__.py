"""Grafana dashboards as code, built with grafana-foundation-sdk.

`render()` gives the JSON files committed in monitoring/grafana/dashboards/ (Grafana's
provisioning loads them); `v11ops monitoring dashboards render` rewrites them, `--check` tells
whether they are up to date.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from grafana_foundation_sdk.builders.dashboard import Dashboard
from grafana_foundation_sdk.cog.encoder import JSONEncoder

from v11ops.monitoring.dashboards import application, blockchain, business, security, system_health
from v11ops.monitoring.dashboards._panels import DATASOURCE_UID, FOLDER

__all__ = ["DASHBOARDS", "DATASOURCE_UID", "FOLDER", "render", "write"]

# File name -> builder. The file name is the dashboard's uid.
DASHBOARDS: dict[str, Callable[[], Dashboard]] = {
    f"{module.UID}.json": module.build
    for module in (system_health, application, blockchain, security, business)
}


def render() -> dict[str, str]:
    """File name -> JSON text of every dashboard (sorted keys, so the output is stable)."""
    return {
        name: json.dumps(build().build(), cls=JSONEncoder, sort_keys=True, indent=2) + "\n"
        for name, build in DASHBOARDS.items()
    }


def write(directory: Path) -> list[Path]:
    """Write every dashboard into `directory` (created if needed); return the paths."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, text in render().items():
        path = directory / name
        path.write_text(text, encoding="utf-8")
        paths.append(path)
    return paths
