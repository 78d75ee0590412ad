"""`monitoring:` the local Prometheus, Alertmanager and node-exporter (`v11ops monitor up`),
the controller's listener for Alertmanager webhooks, and how alerts judge the post-switch window."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, Field

from v11ops.config._base import HostPort, Model, check_one_template
from v11ops.config._secrets import SECRET, must_be_reference

Severity = Literal["critical", "warning", "info"]
# Prometheus durations as its flags take them (`15d`, `12h`); retention is a flag, never a
# config-file setting (the original put it in the file, where Prometheus ignores it).
_DURATION = r"^[0-9]+(ms|s|m|h|d|w|y)$"


class Prometheus(Model):
    """The Prometheus server: where it listens, what it loads, how long it keeps samples."""

    listen: HostPort = "127.0.0.1:9090"
    scrape_interval_s: float = Field(default=15.0, gt=0)
    evaluation_interval_s: float = Field(default=15.0, gt=0)
    retention_time: str = Field(default="15d", pattern=_DURATION, description="e.g. 15d, 12h")
    retention_size: str | None = Field(
        default=None, pattern=r"^[0-9]+(B|KB|MB|GB|TB|PB)$", description="e.g. 10GB; null: none"
    )
    rules: str | None = Field(
        default="builtin",
        description="folder of alert rule files (*.yml), relative to this file; builtin: the "
        "rules v11ops ships (monitoring/prometheus/rules); null: no rules",
    )


class Alertmanager(Model):
    """Alertmanager: the routing config it starts from and where it listens."""

    listen: HostPort = "127.0.0.1:9093"
    config: str | None = Field(
        default="builtin",
        description="routing config, relative to this file; builtin: the routing v11ops ships "
        "(monitoring/alertmanager/alertmanager.yml); null: only the controller receiver",
    )
    retention: str = Field(default="120h", pattern=_DURATION, description="of silences and alerts")


class NodeExporter(Model):
    """node-exporter: host metrics, plus the `*.prom` files of the textfile collector."""

    listen: HostPort = "127.0.0.1:9100"
    textfile_dir: Annotated[str, check_one_template(frozenset({"state_dir"}))] | None = Field(
        default="{state_dir}/textfile", description="read by the textfile collector; null: off"
    )


class Webhook(Model):
    """The controller's TCP listener: Alertmanager webhooks in, the controller's /metrics out.
    Both need the bearer token."""

    listen: HostPort | Literal["auto"] | None = Field(
        default="auto",
        description="host:port; auto: a free loopback port, chosen once and kept; null: off",
    )
    token: Annotated[str | None, AfterValidator(must_be_reference), SECRET] = Field(
        default=None,
        description="env:NAME or file:PATH; null: generated once into the state directory",
    )


def _critical_only() -> list[Severity]:
    return ["critical"]


class WindowAlerts(Model):
    """A firing alert about the new release (its `slot` and `version` labels) inside the
    post-switch window fails the window, which rolls the release back."""

    rollback: bool = True
    severities: list[Severity] = Field(default_factory=_critical_only, min_length=1)


class Monitoring(Model):
    """`v11ops monitor up|down|status`, `v11ops alerts`, alert-driven rollback."""

    prometheus: Prometheus = Prometheus()
    alertmanager: Alertmanager = Alertmanager()
    node_exporter: NodeExporter = NodeExporter()
    webhook: Webhook = Webhook()
    window_alerts: WindowAlerts = Field(default_factory=WindowAlerts)
    metrics_path: str = Field(
        default="/q/metrics", pattern=r"^/", description="where each slot serves its metrics"
    )
