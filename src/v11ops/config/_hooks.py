"""`hooks:` calls made at fixed points of a deploy: pre_deploy, pre_switch (blue-green) or
pre_step (canary), post_switch and on_rollback."""

from __future__ import annotations

from typing import Annotated, Any, Literal, get_args

from pydantic import Discriminator, Field, Tag

from v11ops.config._base import Model, check_env, check_one_template, check_templates
from v11ops.config._gates import HttpMethod
from v11ops.config._secrets import SECRET
from v11ops.config._templates import HOOK_PLACEHOLDERS


class HttpHook(Model):
    """An HTTP call; {old} and {new} are the base URLs of the old and the new slot."""

    name: str = Field(min_length=1)
    kind: Literal["http"] = "http"
    method: HttpMethod = "POST"
    url: Annotated[str, check_one_template(HOOK_PLACEHOLDERS)]
    headers: Annotated[dict[str, str], SECRET] = Field(
        default_factory=dict, description="values may be env:NAME or file:PATH references"
    )
    expect_status: list[int] | None = Field(default=None, description="default: any 2xx")
    timeout_s: float = Field(default=5.0, gt=0)
    required: bool = Field(
        default=True, description="false: a failure is recorded but does not fail"
    )


class CommandHook(Model):
    """A command (argv, no shell); exit code 0 passes."""

    name: str = Field(min_length=1)
    kind: Literal["command"]
    command: Annotated[list[str], Field(min_length=1), check_templates(HOOK_PLACEHOLDERS)]
    env: Annotated[dict[str, str], check_env(HOOK_PLACEHOLDERS), SECRET] = Field(
        default_factory=dict
    )
    timeout_s: float = Field(default=30.0, gt=0)
    required: bool = True


def _kind(value: Any) -> str | None:
    if isinstance(value, dict):
        kind = value.get("kind", "http")
        return kind if isinstance(kind, str) else None
    return getattr(value, "kind", None)


Hook = Annotated[
    Annotated[HttpHook, Tag("http")] | Annotated[CommandHook, Tag("command")],
    Discriminator(_kind),
]
HOOK_TAGS = frozenset({"http", "command"})


HookPoint = Literal["pre_deploy", "pre_switch", "pre_step", "post_switch", "on_rollback"]
HOOK_POINTS: tuple[HookPoint, ...] = get_args(HookPoint)


class Hooks(Model):
    """Hooks by deploy point, run in order; a failing required hook fails its gate."""

    pre_deploy: list[Hook] = Field(
        default_factory=list,
        description="before anything starts; a failure fails the deploy and nothing is started",
    )
    pre_switch: list[Hook] = Field(
        default_factory=list,
        description="blue-green, before traffic moves; a failure stops the new slot",
    )
    pre_step: list[Hook] = Field(
        default_factory=list,
        description="canary, before each weight change; a failure aborts and rolls back",
    )
    post_switch: list[Hook] = Field(
        default_factory=list,
        description="after traffic moved to the new release (when there is one to roll back "
        "to); a failure rolls back",
    )
    on_rollback: list[Hook] = Field(
        default_factory=list,
        description="after traffic moved back: {version}/{new} are the release rolled back to, "
        "{old_version}/{old} the one rolled back from; a failure is recorded, the rollback stands",
    )

    def at(self, point: HookPoint) -> list[Hook]:
        """The hooks of one deploy point."""
        hooks: list[Hook] = getattr(self, point)
        return hooks
