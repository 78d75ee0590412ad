"""`backup:` what `v11ops backup` copies, where it keeps backups, how it encrypts and prunes them,
and whether a deploy that migrates the ledger schema takes a backup first."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator, Field, model_validator
from pydantic_core import PydanticCustomError

from v11ops.config._base import Model, check_one_template
from v11ops.config._secrets import SECRET, must_be_reference

_STATE_DIR = check_one_template(frozenset({"state_dir"}))
_INTERVAL = r"^[0-9]+(s|m|h|d)$"


class Retention(Model):
    """What `v11ops backup prune` keeps: the last N, then one per day, ISO week and month (GFS).
    The newest backup that passed a restore drill is always kept."""

    keep_last: int = Field(default=7, ge=1)
    keep_daily: int = Field(default=7, ge=0)
    keep_weekly: int = Field(default=4, ge=0)
    keep_monthly: int = Field(default=6, ge=0)


class Backup(Model):
    """`v11ops backup create|list|verify|restore|prune|drill|schedule` and `v11ops dr drill`."""

    db: Annotated[str, _STATE_DIR] = Field(
        default="sqlite:///{state_dir}/ledger.db",
        description="the ledger database: sqlite:///PATH or postgresql://HOST/DB",
    )
    repo: Annotated[str, _STATE_DIR] = Field(
        default="{state_dir}/backups",
        description="folder of the backups (relative to this file); keep a copy off the host",
    )
    encrypt: bool = Field(
        default=True,
        description="AES-256-GCM; with no key, backup and restore refuse (never plaintext)",
    )
    key: Annotated[str | None, AfterValidator(must_be_reference), SECRET] = Field(
        default=None,
        description="the 64-hex-character key as env:NAME or file:PATH (relative to this file);"
        " default: env:V11OPS_BACKUP_KEY when that variable is set",
    )
    compression_level: int = Field(
        default=1, ge=1, le=19, description="zstd level (1: fastest; ledger data is mostly hashes)"
    )
    include_app: bool = Field(
        default=True, description="also back up this file and the controller's state database"
    )
    every: str = Field(
        default="1h", pattern=_INTERVAL, description="`v11ops backup schedule` interval (RPO)"
    )
    retention: Retention = Field(default_factory=Retention)
    before_migrating_deploy: bool = Field(
        default=True, description="back up before a deploy that migrates the ledger schema"
    )
    scratch_url: str | None = Field(
        default=None,
        description="PostgreSQL admin URL where drills create scratch databases;"
        " default: the backed-up server's `postgres` database",
    )

    @model_validator(mode="before")
    @classmethod
    def _key_file_is_now_key(cls, data: object) -> object:
        if isinstance(data, dict) and "key_file" in data:
            raise PydanticCustomError(
                "renamed", "key_file is now key: file:PATH (or env:NAME)", {"key": "key_file"}
            )
        return data


def render_state_dir(template: str, state_path: Path) -> str:
    """A `backup:` path or URL with `{state_dir}` filled in."""
    return template.replace("{state_dir}", str(state_path))
