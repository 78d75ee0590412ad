"""Placeholders in command, env and URL templates: which are allowed where, and rendering."""

from __future__ import annotations

import string
from collections.abc import Mapping

from pydantic_core import PydanticCustomError

# What a release's command, env values and workdir may use.
RELEASE_PLACEHOLDERS = frozenset({"port", "version", "slot", "state_dir", "python"})
# What a pre-switch hook may use: the base URLs of the old and new slot and their versions.
HOOK_PLACEHOLDERS = frozenset(
    {"old", "new", "version", "old_version", "state_dir", "python", "slot", "old_slot"}
)

_FORMATTER = string.Formatter()


def placeholders(template: str) -> list[str]:
    """Names used in `template`; ValueError for unbalanced braces or positional `{}`."""
    names = []
    for _literal, field, _spec, _conv in _FORMATTER.parse(template):
        if field is None:
            continue
        if field == "" or field.isdigit():
            raise ValueError("positional placeholder {} is not supported")
        names.append(field)
    return names


def check_template(template: str, allowed: frozenset[str], key: str | int | None = None) -> str:
    """Raise a config error (naming `key`) when `template` uses an unknown placeholder."""
    ctx: dict[str, object] = {} if key is None else {"key": key}
    try:
        names = placeholders(template)
    except ValueError as exc:
        raise PydanticCustomError(
            "template",
            "{problem} in {template}; write {{ and }} for literal braces",
            {**ctx, "problem": str(exc), "template": repr(template)},
        ) from None
    for name in names:
        if name not in allowed:
            listed = ", ".join("{" + a + "}" for a in sorted(allowed))
            raise PydanticCustomError(
                "template",
                "unknown placeholder {name} (allowed: {allowed}; write {{ and }} for literal "
                "braces)",
                {**ctx, "name": "{" + name + "}", "allowed": listed},
            )
    return template


def render(template: str, values: Mapping[str, object]) -> str:
    """Fill a checked template. Every allowed name must be in `values`."""
    return template.format_map(values)
