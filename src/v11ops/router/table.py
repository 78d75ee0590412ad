"""The route table: which targets (slots) get traffic, with what weight, and its JSON shape.

A table is immutable. A switch replaces the whole table in one step, so a request sees either the
old table or the new one, never a mix.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from v11ops.router.errors import RouteTableError

MAX_WEIGHT = 1_000_000
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
# A header or cookie name is an HTTP token (RFC 9110 section 5.6.2).
_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,128}$")
_TABLE_KEYS = frozenset(
    {"targets", "sticky_header", "sticky_cookie", "revision", "expect_revision"}
)
_TARGET_KEYS = frozenset({"name", "url", "weight", "version"})


@dataclass(frozen=True, slots=True)
class Target:
    """One upstream a slot runs on: `name` is the slot (blue, green, canary), `url` its address."""

    name: str
    url: str
    weight: int = 100
    version: str = ""

    @property
    def host(self) -> str:
        """Host part of the url (validated at construction of the table)."""
        return urlsplit(self.url).hostname or ""

    @property
    def port(self) -> int:
        """Port part of the url (always explicit)."""
        return urlsplit(self.url).port or 0

    def to_json(self) -> dict[str, Any]:
        """The target as it appears in `GET /routes` and the state file."""
        return {"name": self.name, "url": self.url, "weight": self.weight, "version": self.version}


@dataclass(frozen=True, slots=True)
class RouteTable:
    """The whole routing decision: targets plus an optional sticky key.

    `revision` is assigned by the router on every switch; clients read it and may send
    `expect_revision` to make a switch conditional (compare-and-set).
    """

    targets: tuple[Target, ...] = ()
    sticky_header: str | None = None
    sticky_cookie: str | None = None
    revision: int = 0
    expect_revision: int | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        _validate_table(self)

    @property
    def active(self) -> tuple[Target, ...]:
        """Targets that get new requests (weight > 0)."""
        return tuple(t for t in self.targets if t.weight > 0)

    def find(self, key: str) -> list[Target]:
        """Targets whose slot name or url is `key`."""
        return [t for t in self.targets if key in (t.name, t.url)]

    def with_revision(self, revision: int) -> RouteTable:
        """The same table stamped with the router's revision number."""
        return RouteTable(self.targets, self.sticky_header, self.sticky_cookie, revision)

    def to_json(self) -> dict[str, Any]:
        """The JSON shape of `GET /routes`, `PUT /routes` and the state file."""
        return {
            "revision": self.revision,
            "targets": [t.to_json() for t in self.targets],
            "sticky_header": self.sticky_header,
            "sticky_cookie": self.sticky_cookie,
        }

    @classmethod
    def from_json(cls, data: Any) -> RouteTable:
        """Parse and validate a table; raise `RouteTableError` naming the first thing wrong."""
        if not isinstance(data, Mapping):
            raise RouteTableError("route table must be a JSON object with a 'targets' list")
        unknown = sorted(set(data) - _TABLE_KEYS)
        if unknown:
            raise RouteTableError(f"unknown field {unknown[0]!r} in route table")
        raw_targets = data.get("targets")
        if not isinstance(raw_targets, list):
            raise RouteTableError("'targets' must be a list of {name, url, weight, version}")
        targets = tuple(_target_from_json(i, t) for i, t in enumerate(raw_targets))
        return cls(
            targets=targets,
            sticky_header=_optional_str(data, "sticky_header"),
            sticky_cookie=_optional_str(data, "sticky_cookie"),
            revision=_optional_int(data, "revision") or 0,
            expect_revision=_optional_int(data, "expect_revision"),
        )


def _target_from_json(index: int, raw: Any) -> Target:
    where = f"targets[{index}]"
    if not isinstance(raw, Mapping):
        raise RouteTableError(f"{where} must be an object with name, url, weight, version")
    unknown = sorted(set(raw) - _TARGET_KEYS)
    if unknown:
        raise RouteTableError(f"unknown field {unknown[0]!r} in {where}")
    name, url = raw.get("name"), raw.get("url")
    weight, version = raw.get("weight", 100), raw.get("version", "")
    if not isinstance(name, str):
        raise RouteTableError(f"{where}.name must be a string such as 'blue'")
    if not isinstance(url, str):
        raise RouteTableError(f"{where}.url must be a string such as 'http://127.0.0.1:9003'")
    if not isinstance(weight, int) or isinstance(weight, bool):
        raise RouteTableError(f"{where}.weight must be an integer >= 0, got {weight!r}")
    if not isinstance(version, str):
        raise RouteTableError(f"{where}.version must be a string")
    return Target(name=name, url=url, weight=weight, version=version)


def _optional_str(data: Mapping[str, Any], key: str) -> str | None:
    value = data.get(key)
    if value is None or isinstance(value, str):
        return value or None
    raise RouteTableError(f"'{key}' must be a string or null")


def _optional_int(data: Mapping[str, Any], key: str) -> int | None:
    value = data.get(key)
    if value is None or (isinstance(value, int) and not isinstance(value, bool)):
        return value
    raise RouteTableError(f"'{key}' must be an integer")


def _validate_table(table: RouteTable) -> None:
    names: set[str] = set()
    urls: set[str] = set()
    for target in table.targets:
        _validate_target(target)
        if target.name in names:
            raise RouteTableError(
                f"target name {target.name!r} appears twice; names must be unique"
            )
        if target.url in urls:
            raise RouteTableError(f"target url {target.url!r} appears twice; urls must be unique")
        names.add(target.name)
        urls.add(target.url)
    for key in ("sticky_header", "sticky_cookie"):
        value = getattr(table, key)
        if value is not None and not _TOKEN.fullmatch(value):
            raise RouteTableError(f"{key} {value!r} is not a valid HTTP header/cookie name")
    if table.sticky_header and table.sticky_cookie:
        raise RouteTableError("set at most one of sticky_header and sticky_cookie")


def _validate_target(target: Target) -> None:
    if not _NAME.fullmatch(target.name):
        raise RouteTableError(
            f"target name {target.name!r} must be 1-64 letters, digits, '.', '_' or '-'"
        )
    _validate_url(target.name, target.url)
    if not 0 <= target.weight <= MAX_WEIGHT:
        raise RouteTableError(
            f"target {target.name!r}: weight {target.weight} must be between 0 and {MAX_WEIGHT}"
        )
    if len(target.version) > 128:
        raise RouteTableError(f"target {target.name!r}: version is longer than 128 characters")


def _validate_url(name: str, url: str) -> None:
    hint = "expected http://HOST:PORT, e.g. http://127.0.0.1:9003"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise RouteTableError(f"target {name!r}: url {url!r} is invalid; {hint}") from None
    if parts.scheme != "http" or not parts.hostname or port is None or port == 0:
        raise RouteTableError(f"target {name!r}: url {url!r} is invalid; {hint}")
    if parts.path or parts.query or parts.fragment or parts.username:
        raise RouteTableError(f"target {name!r}: url {url!r} must not have a path; {hint}")
