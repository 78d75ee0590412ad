"""Reading `v11ops.yaml`: YAML with line numbers in errors, then the models."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from v11ops.config._analysis import CHECK_TAGS
from v11ops.config._config import Config
from v11ops.config._errors import ConfigError, config_error_from_validation
from v11ops.config._gates import SMOKE_TAGS
from v11ops.config._hooks import HOOK_TAGS
from v11ops.config._secrets import resolve_secrets

DEFAULT_CONFIG_PATH = Path("v11ops.yaml")
_UNION_TAGS = SMOKE_TAGS | HOOK_TAGS | CHECK_TAGS


class _Loader(yaml.SafeLoader):
    """Safe YAML where mapping keys stay the text that was written.

    Without this, `1.10:` would become the float 1.1 and `on:` the boolean True; versions and
    environment variable names must stay exactly as written. Duplicate keys are errors too
    (plain PyYAML keeps the last one silently).
    """


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> dict[str, Any]:
    loader.flatten_mapping(node)
    mapping: dict[str, Any] = {}
    for key_node, value_node in node.value:
        if not isinstance(key_node, yaml.ScalarNode):
            raise yaml.constructor.ConstructorError(
                None, None, "a mapping key must be a plain value", key_node.start_mark
            )
        key = key_node.value
        if key in mapping:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
        mapping[key] = loader.construct_object(value_node, deep=True)
    return mapping


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def parse_config(text: str, source: Path, label: str | None = None) -> Config:
    """Validate YAML text as if read from `source` (relative paths resolve against its folder)."""
    label = label if label is not None else str(source)
    try:
        raw = yaml.load(text, Loader=_Loader)  # noqa: S506  # nosec B506 - _Loader is a SafeLoader
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = exc.problem or exc.context or "not valid YAML"
        if exc.context and exc.context_mark and exc.problem:
            # Where the unfinished construct began is usually where the typo is.
            problem += f" ({exc.context} that began on line {exc.context_mark.line + 1})"
        raise ConfigError(f"{label}: {where}YAML syntax error: {problem}", file=label) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{label}: YAML syntax error: {exc}", file=label) from None
    if raw is None:
        raise ConfigError(
            f"{label}: the file is empty; expected a mapping with service: and releases: "
            "(`v11ops init` writes a commented example)",
            file=label,
        )
    if not isinstance(raw, dict):
        raise ConfigError(
            f"{label}: expected a mapping with service: and releases: at the top level",
            file=label,
        )
    try:
        config = Config.model_validate(raw)
    except ValidationError as exc:
        raise config_error_from_validation(exc, label, _UNION_TAGS) from None
    return config._attach(source, label)


def load_config(
    path: str | os.PathLike[str] = DEFAULT_CONFIG_PATH, *, secrets: bool = True
) -> Config:
    """Read and validate a config file, and resolve its env:/file: secret references. Raises
    ConfigError with one line naming the file, the field path and what was expected (for a
    reference: the reference, never a value). Reading changes nothing.

    `secrets=False` checks the references' form but does not resolve them: for commands that
    only talk to the controller (status, deploy, token, ...), so an operator whose shell cannot
    read the service's secrets can still use them; whatever uses a secret resolves it itself."""
    path = Path(path)
    label = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f"{label}: no such file (`v11ops init` writes a commented default)", file=label
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ConfigError(f"{label}: cannot read: {reason}", file=label) from None
    config = parse_config(text, path, label)
    if not secrets:
        return config
    try:
        resolve_secrets(config, config.config_dir)
    except ConfigError as exc:
        raise ConfigError(f"{label}: {exc}", file=label, path=exc.path) from None
    return config


def config_json_schema() -> dict[str, Any]:
    """JSON Schema of v11ops.yaml (for editors: yaml-language-server and friends)."""
    schema = Config.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "v11ops.yaml"
    return schema


def write_text_atomically(path: Path, text: str) -> None:
    """Write-temp + fsync + rename: a reader sees the old file or the new one, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
