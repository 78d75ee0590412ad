"""Structured logs: one JSON object per line with Elastic Common Schema field names."""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any, TextIO

import orjson
import structlog


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
        line = orjson.dumps(doc, default=str).decode()
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
    renderer = _EcsRenderer(service, version, node_id, streams)
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.INFO),
        logger_factory=structlog.PrintLoggerFactory(),
        cache_logger_on_first_use=True,
    )
    root = logging.getLogger()
    root.handlers = [_StdlibBridge(renderer)]
    root.setLevel(logging.INFO)
    logging.getLogger("uvicorn.access").disabled = True
