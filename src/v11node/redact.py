"""Keeping secrets out of log lines and error messages.

`redact(text)` replaces, with `[REDACTED]`:
- every value registered with `register_secret` (resolved config references, API keys, ...);
- bearer/basic credentials, `v11_<id>_<secret>` control tokens (the public id stays);
- the values of `Authorization`, `X-API-Key` and `X-Admin-Key` headers, in any spelling a log
  line shows them (`name: value`, `'name': 'value'`, `name=value`);
- `token=`, `key=`, `password=`, `secret=`, `signature=` query parameters (any name ending so);
- the password in a URL's userinfo (`scheme://user:password@host`).

It lives in v11node, the lower layer, so the node and v11ops (which imports it) share one
filter. `redact_event` is the structlog processor, `RedactingFilter` the stdlib logging filter.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Iterable, MutableMapping
from typing import Any

REDACTED = "[REDACTED]"
# Shorter values are not registered: replacing every "1" or "on" would garble the log and a
# secret that short is no secret.
MIN_SECRET_LENGTH = 6

_SECRET_KEY = re.compile(
    r"(?i)^(authorization|x-api-key|x-admin-key|cookie|set-cookie|.*(?:password|passwd|secret"
    r"|token|api_?key|admin_?key|credentials?))$"
)


def _header(match: re.Match[str]) -> str:
    scheme = f"{match[2]} " if match[2] else ""
    return f"{match[1]}{scheme}{REDACTED}"


_PATTERNS: tuple[tuple[re.Pattern[str], str | Callable[[re.Match[str]], str]], ...] = (
    # Header values, as `name: value`, `"name": "value"` or `name=value`; an auth scheme stays.
    (
        re.compile(
            r"(?i)(\b(?:authorization|x-api-key|x-admin-key)[\"']?\s*[:=]\s*[\"']?)"
            r"(?:(bearer|basic|token)\s+)?(?!(?:bearer|basic|token)\s)(?!\[REDACTED\])[^\s\"',;}&]+"
        ),
        _header,
    ),
    # A credential after the scheme outside a header: 8+ characters with a digit or a symbol, or
    # 20+, so that prose ("a valid bearer token", "Basic authentication") stays readable.
    (
        re.compile(
            r"(?i)\b(bearer|basic)\s+(?=[\w.~+/=-]*[\d.~+/=-][\w.~+/=-]*|[\w.~+/=-]{20})"
            r"[\w.~+/=-]{8,}"
        ),
        r"\1 " + REDACTED,
    ),
    (re.compile(r"\b(v11_[0-9a-f]{12}_)[A-Za-z0-9_-]+"), r"\1" + REDACTED),
    (
        re.compile(
            r"(?i)([?&;][A-Za-z0-9_.-]*(?:token|key|secret|password|passwd|signature|sig)=)"
            r"[^&\s#\"']+"
        ),
        r"\1" + REDACTED,
    ),
    (re.compile(r"(\b[A-Za-z][A-Za-z0-9+.-]*://[^/\s:@]*:)[^@\s/]+@"), r"\1" + REDACTED + "@"),
)


class _Registry:
    """The secret values this process knows; thread-safe, one alternation regex."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: set[str] = set()
        self._pattern: re.Pattern[str] | None = None

    def add(self, values: Iterable[str]) -> None:
        candidates = {v for v in values if len(v) >= MIN_SECRET_LENGTH}
        with self._lock:
            if candidates <= self._values:
                return
            self._values |= candidates
            ordered = sorted(self._values, key=len, reverse=True)  # longest wins
            self._pattern = re.compile("|".join(re.escape(v) for v in ordered))

    def clear(self) -> None:
        with self._lock:
            self._values.clear()
            self._pattern = None

    def sub(self, text: str) -> str:
        pattern = self._pattern
        return pattern.sub(REDACTED, text) if pattern is not None else text


_REGISTRY = _Registry()


def register_secret(*values: str | None) -> None:
    """Remember secret values so that no later log line or error message shows them."""
    _REGISTRY.add(v for v in values if v)


def forget_secrets() -> None:
    """Forget every registered value (tests)."""
    _REGISTRY.clear()


def redact(text: str) -> str:
    """`text` with every known secret and credential-shaped value replaced by [REDACTED]."""
    text = _REGISTRY.sub(text)
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def redact_value(key: str, value: Any) -> Any:
    """A logged field: the whole value when its name says secret, else its strings redacted."""
    if _SECRET_KEY.match(key) and value not in (None, ""):
        return REDACTED
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: redact_value(str(k), v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_value("", v) for v in value]
    if isinstance(value, BaseException):
        return redact(str(value))
    return value


def redact_event(_logger: Any, _method: str, event: MutableMapping[str, Any]) -> Any:
    """structlog processor: every field of the event (put it after format_exc_info)."""
    for key in list(event):
        event[key] = redact_value(str(key), event[key])
    return event


class RedactingFilter(logging.Filter):
    """stdlib logging filter (uvicorn, httpx, psycopg): the message, its arguments and the
    traceback text are redacted before any handler formats the record."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True
