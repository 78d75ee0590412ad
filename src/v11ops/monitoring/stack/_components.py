"""The three programs of the stack, as Debian packages them, and how each is started."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from v11ops.config import Config
from v11ops.monitoring.stack._errors import MissingBinary
from v11ops.monitoring.stack._layout import Layout


@dataclass(frozen=True)
class Component:
    name: str
    binary: str
    package: str
    listen: str
    health_path: str
    flags: tuple[str, ...]
    config_file: Path | None = None
    checker: tuple[str, ...] | None = None  # validates a config file before it is used

    @property
    def url(self) -> str:
        return f"http://{self.listen}"

    def executable(self) -> str:
        """The program's path; MissingBinary (naming the apt package) when not installed."""
        found = shutil.which(self.binary)
        for folder in ("/usr/bin", "/usr/sbin"):
            if found is None and os.access(f"{folder}/{self.binary}", os.X_OK):
                found = f"{folder}/{self.binary}"
        if found is None:
            raise MissingBinary(self.binary, self.package)
        return found

    def argv(self) -> list[str]:
        return [self.executable(), *self.flags]


def components(config: Config) -> list[Component]:
    """Prometheus, Alertmanager and node-exporter, in start order."""
    mon = config.monitoring
    layout = Layout.of(config)
    retention = [f"--storage.tsdb.retention.time={mon.prometheus.retention_time}"]
    if mon.prometheus.retention_size:
        retention.append(f"--storage.tsdb.retention.size={mon.prometheus.retention_size}")
    textfile = textfile_dir(config)
    return [
        Component(
            "alertmanager", "prometheus-alertmanager", "prometheus-alertmanager",
            mon.alertmanager.listen, "/-/ready",
            (
                f"--config.file={layout.alertmanager_config}",
                f"--storage.path={layout.data('alertmanager')}",
                f"--web.listen-address={mon.alertmanager.listen}",
                f"--data.retention={mon.alertmanager.retention}",
                "--cluster.listen-address=",  # a single instance: no gossip port to clash
            ),
            layout.alertmanager_config, ("amtool", "check-config"),
        ),
        Component(
            "prometheus", "prometheus", "prometheus", mon.prometheus.listen, "/-/ready",
            (
                f"--config.file={layout.prometheus_config}",
                f"--storage.tsdb.path={layout.data('prometheus')}",
                f"--web.listen-address={mon.prometheus.listen}",
                *retention,
            ),
            layout.prometheus_config, ("promtool", "check", "config"),
        ),
        Component(
            "node-exporter", "prometheus-node-exporter", "prometheus-node-exporter",
            mon.node_exporter.listen, "/",
            (
                f"--web.listen-address={mon.node_exporter.listen}",
                *([f"--collector.textfile.directory={textfile}"] if textfile else []),
            ),
        ),
    ]  # fmt: skip


def textfile_dir(config: Config) -> Path | None:
    """node-exporter's textfile collector folder (backup metrics and the like), or None."""
    template = config.monitoring.node_exporter.textfile_dir
    if template is None:
        return None
    return config.config_dir / template.replace("{state_dir}", str(config.state_path))
