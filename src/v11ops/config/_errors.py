"""The config error hierarchy and how a pydantic validation error becomes one line."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from pydantic import ValidationError

# Names that say a value is secret (also used for the plaintext-secret warnings).
SECRET_WORDS = ("token", "password", "passwd", "secret", "key", "credential")


class ConfigError(Exception):
    """A configuration file (or a value in it) is wrong. The message is one line:

    `{file}: {field.path}: {what was expected}`, e.g.
    `v11ops.yaml: releases.1.2.0.env.FOO: expected a string, got 0.5`.
    """

    def __init__(self, message: str, *, file: str = "", path: str = "") -> None:
        super().__init__(message)
        self.file = file
        self.path = path


class UnknownReleaseError(ConfigError):
    """A deploy asked for a version that `releases:` does not define."""

    def __init__(self, version: str, known: Sequence[str], file: str = "") -> None:
        listed = ", ".join(known) if known else "none"
        where = f" in {file}" if file else ""
        super().__init__(
            f"unknown release {version!r} (known: {listed}); add it under releases:{where}",
            file=file,
            path=f"releases.{version}",
        )
        self.version = version
        self.known = tuple(known)


_EXPECTED = {
    "string_type": "expected a string",
    "int_type": "expected an integer",
    "int_parsing": "expected an integer",
    "int_from_float": "expected an integer",
    "float_type": "expected a number",
    "float_parsing": "expected a number",
    "bool_type": "expected true or false",
    "bool_parsing": "expected true or false",
    "list_type": "expected a list",
    "tuple_type": "expected a list",
    "dict_type": "expected a mapping",
    "model_type": "expected a mapping",
    "model_attributes_type": "expected a mapping",
    "missing": "required, but missing",
}
_TYPE_ERRORS_SHOWING_INPUT = {
    k for k in _EXPECTED if k not in {"missing", "dict_type", "model_type", "list_type"}
}


def format_path(loc: Iterable[int | str]) -> str:
    """`('releases', '1.2.0', 'env', 'FOO')` -> `releases.1.2.0.env.FOO`; list items as `[i]`."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            # A hostile key (a newline, 4 kB) must not split or flood the one-line error.
            key = part if part.isprintable() and len(part) <= 64 else _short(part)
            out += f".{key}" if out else key
    return out


def _strip_union_tags(loc: tuple[int | str, ...], tags: frozenset[str]) -> list[int | str]:
    # A tagged union inside a list adds its tag to the location (`smoke[0].http.path`): drop it.
    out: list[int | str] = []
    for i, part in enumerate(loc):
        if i > 0 and isinstance(loc[i - 1], int) and part in tags:
            continue
        out.append(part)
    return out


def _short(value: Any) -> str:
    if isinstance(value, str):
        text = json.dumps(value)
    else:
        try:
            text = json.dumps(value)
        except (TypeError, ValueError):
            text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _secret_named(loc: list[int | str]) -> bool:
    # A value under a secret-looking name is never echoed, even when it is the wrong type.
    name = str(loc[-1]).lower() if loc else ""
    return any(word in name for word in SECRET_WORDS)


def describe_error(error: Any, tags: frozenset[str]) -> tuple[str, str]:
    """(field path, what was expected) for one pydantic error dict."""
    loc = _strip_union_tags(tuple(error["loc"]), tags)
    ctx = error.get("ctx") or {}
    kind = error["type"]
    if "key" in ctx:
        loc.append(ctx["key"])
    if "path" in ctx:  # a check across sections names the field itself
        loc = [str(ctx["path"])]
    if kind in _EXPECTED:
        what = _EXPECTED[kind]
        shown = not isinstance(error.get("input"), dict | list) and not _secret_named(loc)
        if kind in _TYPE_ERRORS_SHOWING_INPUT and shown:
            what += f", got {_short(error.get('input'))}"
    elif kind == "literal_error":
        what = f"expected one of {ctx.get('expected', '')}".replace(" or ", ", ")
    elif kind == "union_tag_invalid":
        what = f"unknown kind {ctx.get('tag')!r}, expected one of {ctx.get('expected_tags')}"
    elif kind == "extra_forbidden":
        what = "unknown key"
    else:
        msg = str(error["msg"])
        for prefix in ("Value error, ", "Assertion failed, "):
            msg = msg.removeprefix(prefix)
        what = msg.replace("Input should be ", "expected ")
    return format_path(loc), what


def config_error_from_validation(
    exc: ValidationError, file: str, tags: frozenset[str]
) -> ConfigError:
    """One ConfigError naming the first problem (and how many more there are)."""
    errors = exc.errors(include_url=False)
    path, what = describe_error(errors[0], tags)
    more = len(errors) - 1
    tail = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
    prefix = f"{file}: " if file else ""
    where = f"{path}: " if path else ""
    return ConfigError(f"{prefix}{where}{what}{tail}", file=file, path=path)
