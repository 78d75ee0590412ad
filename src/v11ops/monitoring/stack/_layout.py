"""Where the monitoring stack keeps its files: `{state_dir}/monitoring/`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from v11ops.config import Config


@dataclass(frozen=True)
class Layout:
    """Rendered configs, file-SD target files, data folders, process records and secrets."""

    state: Path

    @classmethod
    def of(cls, config: Config) -> Layout:
        return cls(config.state_path)

    @property
    def root(self) -> Path:
        return self.state / "monitoring"

    @property
    def targets(self) -> Path:
        """File-based service discovery: one JSON file per scrape job."""
        return self.root / "targets"

    def target_file(self, job: str) -> Path:
        return self.targets / f"{job}.json"

    @property
    def prometheus_config(self) -> Path:
        return self.root / "prometheus.yml"

    @property
    def alertmanager_config(self) -> Path:
        return self.root / "alertmanager.yml"

    def data(self, component: str) -> Path:
        return self.root / "data" / component

    def record(self, component: str) -> Path:
        """The pid record of a running component."""
        return self.root / "run" / f"{component}.json"

    def log(self, component: str) -> Path:
        return self.state / "logs" / f"{component}.log"

    @property
    def token_file(self) -> Path:
        """The controller listener's bearer token when the config does not reference one."""
        return self.root / "webhook.token"

    @property
    def listen_file(self) -> Path:
        """The address `webhook.listen: auto` chose the first time."""
        return self.root / "webhook.listen"
