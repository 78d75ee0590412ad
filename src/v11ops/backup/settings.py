"""Backup settings: the `backup:` section of v11ops.yaml, overridden by command-line options."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from v11ops.backup.errors import BackupUsageError
from v11ops.backup.keys import BackupKey, load_key
from v11ops.backup.retention import RetentionPolicy
from v11ops.backup.sources import AppSources
from v11ops.config import Config
from v11ops.config._backup import Backup, render_state_dir


@dataclass(frozen=True)
class Settings:
    db: str | None
    repo: Path
    key: BackupKey | None
    key_file: Path | None
    encrypt: bool
    level: int
    app: AppSources | None
    retention: RetentionPolicy
    metrics_dir: Path | None
    scratch_url: str | None
    every: str

    def need_db(self) -> str:
        if self.db is None:
            raise BackupUsageError("no database: pass --db URL (or set backup.db in v11ops.yaml)")
        return self.db


def _render(config: Config, template: str) -> str:
    return render_state_dir(template, config.state_path)


def resolve(
    config: Config | None,
    *,
    db: str | None = None,
    repo: Path | None = None,
    key_file: Path | None = None,
    encrypt: bool | None = None,
    metrics_dir: Path | None = None,
    app: bool | None = None,
) -> Settings:
    """Options win over the config file; without a config file --repo is required."""
    b = config.backup if config is not None else Backup()
    if config is None:
        if repo is None:
            raise BackupUsageError("--repo DIR is required when there is no config file")
    else:
        if key_file is None and b.key is not None and b.key.startswith("file:"):
            key_file = config.config_dir / b.key[5:]  # PITR's archive_command passes it on
        db = db or _render(config, b.db)
        repo = repo or config.config_dir / _render(config, b.repo)
        textfile = config.monitoring.node_exporter.textfile_dir
        if metrics_dir is None and textfile is not None:
            metrics_dir = config.config_dir / _render(config, textfile)
    include_app = b.include_app if app is None else app
    return Settings(
        db=db,
        repo=repo,
        key=load_key(key_file or b.key, config.config_dir if config is not None else None),
        key_file=key_file,
        encrypt=b.encrypt if encrypt is None else encrypt,
        level=b.compression_level,
        app=AppSources(config.source, config.state_path)
        if config is not None and config.source is not None and include_app
        else None,
        retention=RetentionPolicy(**b.retention.model_dump()),
        metrics_dir=metrics_dir,
        scratch_url=b.scratch_url,
        every=b.every,
    )
