"""`hooks:` calls made at fixed points of a deploy (pre_switch for now)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Discriminator, Field, Tag

from v11ops.config._base import Model, check_env, check_one_template, check_templates
from v11ops.config._gates import HttpMethod
from v11ops.config._templates import HOOK_PLACEHOLDERS


class HttpHook(Model):
    """An HTTP call; {old} and {new} are the base URLs of the old and the new slot."""

    name: str = Field(min_length=1)
    kind: Literal["http"] = "http"
    method: HttpMethod = "POST"
    url: Annotated[str, check_one_template(HOOK_PLACEHOLDERS)]
    headers: dict[str, str] = Field(
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
    env: Annotated[dict[str, str], check_env(HOOK_PLACEHOLDERS)] = Field(default_factory=dict)
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


class Hooks(Model):
    """Hooks by deploy point."""

    pre_switch: list[Hook] = Field(default_factory=list)
