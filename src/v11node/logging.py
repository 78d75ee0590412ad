"""Structured logs: one JSON object per line with Elastic Common Schema field names, with
secrets redacted (v11node.redact) from every field and every line."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any, TextIO

import orjson
import structlog

from v11node.redact import RedactingFilter, redact, redact_event, register_secret

# Secrets a node or the controller may find in its environment: never logged.
SECRET_ENV = ("V11_API_KEYS", "V11_ADMIN_KEY", "PGPASSWORD", "V11OPS_BACKUP_KEY")


class _EcsRenderer:
    def __init__(self, service: str, version: str, node_id: str, streams: list[TextIO]) -> None:
        self._static = {
            "service.name": service,
            "service.version": version,
            "service.node.name": node_id,
            "ecs.version": "8.11.0",
        }
        self._streams = streams

    def __call__(self, logger: Any, method: str, event: MutableMapping[str, Any]) -> str:
        doc: dict[str, Any] = {
            "@timestamp": event.pop("timestamp"),
            "log.level": event.pop("level", method),
            "message": event.pop("event"),
            "log.logger": event.pop("logger", None) or "v11node",
            **self._static,
        }
        for key, value in event.items():
            doc[key if "." in key else f"event.{key}"] = value
        # The fields were redacted (redact_event); the line again, for anything rendered late.
        line = redact(orjson.dumps(doc, default=str).decode())
        for stream in self._streams:
            stream.write(line + "\n")
            stream.flush()
        raise structlog.DropEvent


class _StdlibBridge(logging.Handler):
    """Send records of stdlib loggers (uvicorn, psycopg) through the same ECS renderer."""

    def __init__(self, renderer: _EcsRenderer) -> None:
        super().__init__()
        self._renderer = renderer

    def emit(self, record: logging.LogRecord) -> None:
        event = {
            "timestamp": structlog.processors.TimeStamper(fmt="iso", utc=True)(None, "", {})[
                "timestamp"
            ],
            "level": record.levelname.lower(),
            "event": record.getMessage(),
            "logger": record.name,
        }
        if record.exc_text:  # set, and redacted, by RedactingFilter
            event["exception"] = record.exc_text
        with contextlib.suppress(structlog.DropEvent):
            self._renderer(None, record.levelname.lower(), event)


def configure_logging(
    service: str, version: str, node_id: str, log_file: Path | None = None
) -> None:
    """Route structlog and the stdlib loggers (uvicorn, ...) to ECS JSON on stdout and a file."""
    streams: list[TextIO] = [sys.stdout]
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        streams.append(log_file.open("a", encoding="utf-8"))
    for name in SECRET_ENV:
        register_secret(*os.environ.get(name, "").split(","))
    renderer = _EcsRenderer(service, version, node_id, streams)
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            redact_event,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.INFO),
        logger_factory=structlog.PrintLoggerFactory(),
        cache_logger_on_first_use=True,
    )
    root = logging.getLogger()
    bridge = _StdlibBridge(renderer)
    bridge.addFilter(RedactingFilter())
    root.handlers = [bridge]
    root.setLevel(logging.INFO)
    logging.getLogger("uvicorn.access").disabled = True


def install_redaction() -> None:
    """For processes that never call configure_logging (the CLI's commands, the router): keep
    structlog's default console output and the stdlib's last-resort handler, both redacted."""
    *processors, renderer = structlog.get_config()["processors"]

    def redacted(logger: Any, method: str, event: MutableMapping[str, Any]) -> Any:
        rendered = renderer(logger, method, event)
        return redact(rendered) if isinstance(rendered, str) else rendered

    structlog.configure(processors=[*processors, redact_event, redacted])
    if logging.lastResort is not None:
        logging.lastResort.addFilter(RedactingFilter())
