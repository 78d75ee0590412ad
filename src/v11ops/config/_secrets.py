"""Secret references (`env:NAME`, `file:PATH`) resolved on use, and plaintext-secret warnings."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Literal

from v11ops.config._errors import ConfigError
from v11ops.config._templates import render

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_SECRET_WORDS = ("token", "password", "secret", "key")


def reference_kind(value: str) -> Literal["env", "file"] | None:
    """`env:NAME` and `file:PATH` are references; `file://...` is an ordinary URL, not one."""
    if value.startswith("env:"):
        return "env"
    if value.startswith("file:") and not value.startswith("file://"):
        return "file"
    return None


def reference_problem(value: str) -> str | None:
    """Why a reference is malformed, or None."""
    kind = reference_kind(value)
    if kind == "env" and not _ENV_NAME.match(value[4:]):
        return "env: reference needs a variable name, e.g. env:V11_API_KEY"
    if kind == "file" and not value[5:]:
        return "file: reference needs a path, e.g. file:secrets/api-key"
    return None


def resolve_reference(value: str, base_dir: Path, where: str) -> str:
    """The value itself, or what an `env:`/`file:` reference points to (trailing newline cut)."""
    kind = reference_kind(value)
    if kind == "env":
        name = value[4:]
        if name not in os.environ:
            raise ConfigError(f"{where}: environment variable {name} is not set", path=where)
        return os.environ[name]
    if kind == "file":
        path = base_dir / value[5:]
        try:
            return path.read_text().rstrip("\n")
        except OSError as exc:
            raise ConfigError(
                f"{where}: cannot read {path}: {exc.strerror or exc}", path=where
            ) from None
    return value


def resolve_mapping(values: Mapping[str, str], base_dir: Path, where: str) -> dict[str, str]:
    """Resolve every reference of a mapping (env vars, headers)."""
    return {k: resolve_reference(v, base_dir, f"{where}.{k}") for k, v in values.items()}


def looks_like_plaintext_secret(name: str, value: str) -> bool:
    """A key named like *token*/*password*/*secret*/*key* holding a literal (not a reference)."""
    lowered = name.lower()
    if not any(word in lowered for word in _SECRET_WORDS):
        return False
    return bool(value) and reference_kind(value) is None and not value.startswith("{")


def plaintext_secret_paths(mappings: Iterator[tuple[str, Mapping[str, str]]]) -> list[str]:
    """Field paths, among (path, mapping) pairs, whose value looks like a plaintext secret."""
    return [
        f"{where}.{name}"
        for where, mapping in mappings
        for name, value in mapping.items()
        if looks_like_plaintext_secret(name, value)
    ]


def render_env(
    env: Mapping[str, str], values: Mapping[str, object], base_dir: Path, where: str
) -> dict[str, str]:
    """Environment values: references resolved (never template-rendered: a secret may contain
    braces), everything else rendered with `values`."""
    return {
        name: (
            resolve_reference(value, base_dir, f"{where}.{name}")
            if reference_kind(value)
            else render(value, values)
        )
        for name, value in env.items()
    }
