"""Backup manifests: what preflight reads to know that a recent, verified backup exists.

`v11ops backup` (v11ops.backup.manifest, where the full manifest is defined) writes one folder
per backup in the repository, `backup.repo` (default `{state_dir}/backups/`), and in it, last,
`manifest.json`: written atomically once the backup's files are complete and synced, so a folder
without a manifest is an unfinished backup and never counts. `verified` becomes true once a
restore drill (`v11ops backup drill`) restored the backup into a scratch database and the chain
verified (`v11ops node verify`). Preflight reads only the fields below (the rest are ignored):

    {state_dir}/backups/<id>/manifest.json
    {
      "schema": "v11ops.backup/1",
      "id": "20250101T120000Z",
      "created_at": "2025-01-01T12:00:00Z",
      "verified": true,
      "verified_at": "2025-01-01T12:03:10Z",
      "size_bytes": 123456
    }
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from v11ops.config import Config, write_text_atomically
from v11ops.config._backup import render_state_dir
from v11ops.preflight._verdict import Verdict, failing, hours, passing

BACKUPS_DIRNAME = "backups"
MANIFEST_NAME = "manifest.json"
BACKUP_MANIFEST_SCHEMA: Literal["v11ops.backup/1"] = "v11ops.backup/1"
MAX_BACKUP_AGE = timedelta(hours=24)


class BackupManifest(BaseModel):
    """The manifest of one complete backup."""

    model_config = ConfigDict(frozen=True, populate_by_name=True)

    schema_id: Literal["v11ops.backup/1"] = Field(default=BACKUP_MANIFEST_SCHEMA, alias="schema")
    id: str = Field(min_length=1)
    created_at: AwareDatetime
    verified: bool = False
    verified_at: AwareDatetime | None = None
    size_bytes: int | None = Field(default=None, ge=0)


@dataclass(frozen=True)
class BackupCatalog:
    """The manifests found under a backups folder, and the ones that could not be read."""

    folder: Path
    manifests: tuple[BackupManifest, ...]
    unreadable: tuple[str, ...]

    def newest(self, *, verified: bool) -> BackupManifest | None:
        """The most recent backup (only verified ones when `verified`)."""
        pool = [m for m in self.manifests if m.verified or not verified]
        return max(pool, key=lambda m: m.created_at, default=None)


def backups_folder(state_path: Path) -> Path:
    """Where backups live for a state directory."""
    return state_path / BACKUPS_DIRNAME


def write_backup_manifest(backup_dir: Path, manifest: BackupManifest) -> None:
    """Write `manifest.json` atomically; call it last, once the backup's files are synced."""
    text = json.dumps(manifest.model_dump(mode="json", by_alias=True), indent=2) + "\n"
    write_text_atomically(backup_dir / MANIFEST_NAME, text)


def configured_repo(config: Config) -> Path:
    """The backup repository a config names (`backup.repo`)."""
    return config.config_dir / render_state_dir(config.backup.repo, config.state_path)


def read_backup_catalog(state_path: Path) -> BackupCatalog:
    """Every readable manifest under `{state_dir}/backups/*/manifest.json`."""
    return read_backup_repo(backups_folder(state_path))


def read_backup_repo(folder: Path) -> BackupCatalog:
    """Every readable manifest under `folder/*/manifest.json`."""
    manifests: list[BackupManifest] = []
    unreadable: list[str] = []
    for path in sorted(folder.glob(f"*/{MANIFEST_NAME}")):
        try:
            manifests.append(BackupManifest.model_validate_json(path.read_bytes()))
        except (OSError, ValidationError):
            unreadable.append(str(path))
    return BackupCatalog(folder, tuple(manifests), tuple(unreadable))


def judge_backups(catalog: BackupCatalog, now: datetime, max_age: timedelta) -> Verdict:
    """PASS when the newest verified backup is younger than `max_age`."""
    details: dict[str, object] = {
        "folder": str(catalog.folder),
        "backups": len(catalog.manifests),
        "unreadable": list(catalog.unreadable),
    }
    newest = catalog.newest(verified=True)
    if newest is None:
        unverified = catalog.newest(verified=False)
        if unverified is None:
            return failing(f"no backup in {catalog.folder}; take one before deploying", **details)
        age = hours((now - unverified.created_at).total_seconds())
        return failing(
            f"no verified backup: the newest, {unverified.id} ({age} old), is not verified",
            **details,
        )
    age_s = (now - newest.created_at).total_seconds()
    details |= {
        "newest": newest.id,
        "created_at": newest.created_at.isoformat(),
        "age_s": round(age_s),
    }
    limit = hours(max_age.total_seconds())
    if age_s > max_age.total_seconds():
        return failing(
            f"the newest verified backup, {newest.id}, is {hours(age_s)} old (limit {limit})",
            **details,
        )
    return passing(f"verified backup {newest.id}, {hours(age_s)} old (limit {limit})", **details)
