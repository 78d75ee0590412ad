"""Expected JSON fields: dotted-path lookup and a comparison that does not mix bools and ints."""

from __future__ import annotations

from typing import Any

MISSING: Any = object()


def lookup(document: Any, dotted: str) -> Any:
    """`status`, `checks.0.name`: mapping keys and list indexes; MISSING when absent."""
    current = document
    for part in dotted.split("."):
        if isinstance(current, dict) and part in current:
            current = current[part]
        elif isinstance(current, list) and part.lstrip("-").isdigit():
            index = int(part)
            if not -len(current) <= index < len(current):
                return MISSING
            current = current[index]
        else:
            return MISSING
    return current


def substitute(expected: Any, version: str) -> Any:
    """`{version}` in any string of an expected value becomes the release's version."""
    if isinstance(expected, str):
        return expected.replace("{version}", version)
    if isinstance(expected, list):
        return [substitute(item, version) for item in expected]
    if isinstance(expected, dict):
        return {key: substitute(value, version) for key, value in expected.items()}
    return expected


def json_equal(observed: Any, expected: Any) -> bool:
    """Equality of JSON values, where true is not 1 and 1 equals 1.0."""
    if isinstance(observed, bool) or isinstance(expected, bool):
        return type(observed) is type(expected) and observed == expected
    if isinstance(observed, dict) and isinstance(expected, dict):
        return observed.keys() == expected.keys() and all(
            json_equal(observed[k], expected[k]) for k in expected
        )
    if isinstance(observed, list) and isinstance(expected, list):
        return len(observed) == len(expected) and all(
            json_equal(o, e) for o, e in zip(observed, expected, strict=True)
        )
    return bool(observed == expected)
