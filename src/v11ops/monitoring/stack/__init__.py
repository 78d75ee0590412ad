"""The local monitoring stack of `v11ops monitor up`: Prometheus, Alertmanager and node-exporter
from the machine's packages, on loopback, with configs rendered into the state directory.

statuses = up(config)           # MissingBinary, MonitoringConfigError, MonitoringError
write_scrape_targets(config, state.slots().values())   # file-SD, on every slot change
address, token = listener_address(config), listener_token(config)  # the controller's listener
"""

from v11ops.monitoring.stack._alerts import AlertmanagerUnavailable, firing_alerts
from v11ops.monitoring.stack._errors import MissingBinary, MonitoringConfigError, MonitoringError
from v11ops.monitoring.stack._layout import Layout
from v11ops.monitoring.stack._listener import listener_address, listener_token, listener_url
from v11ops.monitoring.stack._render import CONTROLLER_RECEIVER, WEBHOOK_PATH
from v11ops.monitoring.stack._stack import ComponentStatus, down, status, up
from v11ops.monitoring.stack._targets import (
    publish_scrape_targets,
    scrape_targets,
    slot_job,
    write_scrape_targets,
)

__all__ = [
    "CONTROLLER_RECEIVER",
    "WEBHOOK_PATH",
    "AlertmanagerUnavailable",
    "ComponentStatus",
    "Layout",
    "MissingBinary",
    "MonitoringConfigError",
    "MonitoringError",
    "down",
    "firing_alerts",
    "listener_address",
    "listener_token",
    "listener_url",
    "publish_scrape_targets",
    "scrape_targets",
    "slot_job",
    "status",
    "up",
    "write_scrape_targets",
]
