"""`service:` (how any release is run and checked) and `releases:` (what differs per version)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from v11ops.config._base import Model, check_env, check_one_template, check_templates
from v11ops.config._secrets import SECRET
from v11ops.config._templates import RELEASE_PLACEHOLDERS

Argv = Annotated[list[str], Field(min_length=1), check_templates(RELEASE_PLACEHOLDERS)]
Env = Annotated[dict[str, str], check_env(RELEASE_PLACEHOLDERS), SECRET]


class Health(Model):
    """HTTP paths of the liveness and readiness checks (MicroProfile Health by default)."""

    live: str = Field(default="/q/health/live", pattern=r"^/")
    ready: str = Field(default="/q/health/ready", pattern=r"^/")


class Service(Model):
    """The service that v11ops deploys: a command template plus how to check and stop it."""

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    command: Argv = Field(
        description="argv template; placeholders {port} {version} {slot} {state_dir} {python}"
    )
    env: Env = Field(default_factory=dict, description="environment for every release")
    workdir: Annotated[str, check_one_template(RELEASE_PLACEHOLDERS)] | None = Field(
        default=None,
        description="working directory; relative to the config file; default: its folder",
    )
    host: str = Field(
        default="127.0.0.1", description="address where the router reaches an instance"
    )
    health: Health = Health()
    start_timeout_s: float = Field(default=30.0, gt=0)
    drain_timeout_s: float = Field(default=30.0, ge=0)


class Release(Model):
    """One immutable version: optional command override, env overrides on top of service.env."""

    command: Argv | None = None
    env: Env = Field(default_factory=dict)
    schema_versions: list[Annotated[int, Field(ge=1)]] | None = Field(
        default=None,
        min_length=1,
        description="ledger schema versions this release runs on; a deploy migrates to the"
        " highest, a rollback to a release that cannot run on the current one is refused;"
        " default: any",
    )
