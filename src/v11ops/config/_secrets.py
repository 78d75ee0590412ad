"""Secret references (`env:NAME`, `file:PATH`) and plaintext-secret warnings.

A field that may hold a secret is marked `SECRET` (a string, or a mapping whose values are
strings). `load_config` resolves every reference in such fields once, so a missing variable or an
unreadable file is a config error naming the field and the reference, and registers each value
with the log redaction (v11node.redact). The code that uses a secret resolves it again when it
uses it, so a rotated file or variable takes effect without a reload, and a release's
fingerprint covers the reference, never the value.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qsl, urlsplit

from pydantic import BaseModel
from pydantic_core import PydanticCustomError

from v11node.redact import register_secret
from v11ops.config._errors import SECRET_WORDS, ConfigError
from v11ops.config._templates import render

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_SECRET_QUERY = re.compile(r"(?i)(token|key|secret|password|passwd|signature|sig)$")


class _SecretMarker:
    """`Annotated[..., SECRET]`: the field may hold a secret, or an env:/file: reference."""

    def __repr__(self) -> str:
        return "SECRET"


SECRET = _SecretMarker()


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
    if kind == "env" and not _ENV_NAME.fullmatch(value[4:]):
        return "env: reference needs a variable name, e.g. env:V11_API_KEY"
    if kind == "file" and not value[5:]:
        return "file: reference needs a path, e.g. file:secrets/api-key"
    return None


def must_be_reference(value: str | None) -> str | None:
    """Validator of a field that takes only a reference (a token, a key): never the secret."""
    if value is None:
        return None
    if reference_kind(value) is None:
        raise PydanticCustomError(
            "reference", "write env:NAME or file:PATH here, never the secret itself"
        )
    if problem := reference_problem(value):
        raise PydanticCustomError("reference", problem)
    return value


def resolve_reference(value: str, base_dir: Path, where: str) -> str:
    """The value itself, or what an `env:`/`file:` reference points to (trailing newline cut).
    A resolved value is registered with the log redaction; an error names `where` and the
    reference, never a value."""
    kind = reference_kind(value)
    if kind == "env":
        name = value[4:]
        if name not in os.environ:
            raise ConfigError(
                f"{where}: {value}: environment variable {name} is not set", path=where
            )
        resolved = os.environ[name]
    elif kind == "file":
        path = base_dir / value[5:]
        try:
            resolved = path.read_text().rstrip("\n")
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise ConfigError(
                f"{where}: {value}: cannot read {path}: {reason}", path=where
            ) from None
    else:
        return value
    register_secret(resolved)
    return resolved


def resolve_mapping(values: Mapping[str, str], base_dir: Path, where: str) -> dict[str, str]:
    """Resolve every reference of a mapping (env vars, headers)."""
    return {k: resolve_reference(v, base_dir, f"{where}.{k}") for k, v in values.items()}


def looks_like_plaintext_secret(name: str, value: str) -> bool:
    """A key named like *token*/*password*/*secret*/*key*/*credential* holding a literal (not a
    reference, not a template). A name ending in _file/_path/_dir names where a secret is
    (`V11_ADMIN_KEYS_FILE: /run/secrets/admin_keys`), not the secret."""
    lowered = name.lower()
    if not any(word in lowered for word in SECRET_WORDS):
        return False
    if lowered.endswith(("_file", "_path", "_dir")):
        return False
    return bool(value) and reference_kind(value) is None and not value.startswith("{")


def url_credentials(value: str) -> list[str]:
    """The credentials a literal URL carries: a userinfo password, token-like query values."""
    if reference_kind(value) is not None or ("://" not in value and "?" not in value):
        return []
    try:
        parts = urlsplit(value)
        password = parts.password
    except ValueError:
        return []
    found = [password] if password else []
    found += [v for k, v in parse_qsl(parts.query) if v and _SECRET_QUERY.search(k)]
    return found


def string_fields(value: Any, where: str = "") -> Iterator[tuple[str, str, str, bool]]:
    """(field path, key name, value, marked SECRET) for every string in a config model."""
    if isinstance(value, BaseModel):
        for name, info in type(value).model_fields.items():
            path = f"{where}.{name}" if where else name
            secret = any(m is SECRET for m in info.metadata)
            for item in _strings(getattr(value, name), path, name):
                yield (*item[:3], secret or item[3])
    else:
        yield from _strings(value, where, where.rsplit(".", 1)[-1])


def _strings(value: Any, path: str, name: str) -> Iterator[tuple[str, str, str, bool]]:
    if isinstance(value, str):
        yield path, name, value, False
    elif isinstance(value, BaseModel):
        yield from string_fields(value, path)
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            yield from _strings(item, f"{path}[{i}]", name)
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(item, f"{path}.{key}", str(key))


def resolve_secrets(model: BaseModel, base_dir: Path) -> None:
    """Resolve every reference in a SECRET field (ConfigError on the first that fails), and
    register the values, and the plaintext secrets `secret_warnings` finds, with the log
    redaction."""
    for path, name, value, secret in string_fields(model):
        if secret and reference_kind(value) is not None:
            resolve_reference(value, base_dir, path)
        elif looks_like_plaintext_secret(name, value) or (secret and "://" in value):
            register_secret(value)  # a literal secret still never reaches a log line
        register_secret(*url_credentials(value))


def secret_warnings(model: BaseModel) -> list[str]:
    """One line per plaintext secret: a secret-named key holding a literal, a URL carrying a
    password or a token-like query parameter."""
    advice: list[str] = []
    for path, name, value, secret in string_fields(model):
        instead = "use env:NAME or file:PATH instead"
        if looks_like_plaintext_secret(name, value) and secret:
            advice.append(f"{path} looks like a secret in plaintext; {instead}")
        elif url_credentials(value):
            if not secret:  # a field without references
                instead = "keep it out of the config" + (
                    " (PGPASSWORD or ~/.pgpass)" if value.startswith("postgres") else ""
                )
            advice.append(f"{path} is a URL with a credential in plaintext; {instead}")
    return advice


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
