"""The alerts Alertmanager holds, from its API v2 (`v11ops alerts`)."""

from __future__ import annotations

from typing import Any

import httpx

from v11ops.config import Config
from v11ops.monitoring.stack._errors import MonitoringError


class AlertmanagerUnavailable(MonitoringError):
    """Alertmanager does not answer at the configured address."""


def firing_alerts(config: Config, include_suppressed: bool = False) -> list[dict[str, Any]]:
    """Active alerts, most severe first; silenced and inhibited ones only when asked for."""
    url = f"http://{config.monitoring.alertmanager.listen}/api/v2/alerts"
    params = {"active": "true", "unprocessed": "false"}
    if not include_suppressed:
        params |= {"silenced": "false", "inhibited": "false"}
    try:
        response = httpx.get(url, params=params, timeout=5.0)
        response.raise_for_status()
        alerts: list[dict[str, Any]] = response.json()
    except (httpx.HTTPError, ValueError) as exc:
        raise AlertmanagerUnavailable(
            f"Alertmanager at http://{config.monitoring.alertmanager.listen} does not answer "
            f"({exc or type(exc).__name__}); start it with `v11ops monitor up`"
        ) from None
    return sorted(alerts, key=_order)


_SEVERITY_ORDER = {"critical": 0, "warning": 1, "info": 2}


def _order(alert: dict[str, Any]) -> tuple[int, str, str]:
    labels = alert.get("labels", {})
    rank = _SEVERITY_ORDER.get(labels.get("severity", ""), 3)
    return rank, labels.get("alertname", ""), alert.get("startsAt", "")
