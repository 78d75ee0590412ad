"""Code paths that log, run in a child process with the production logging set-up
(`v11node.logging.configure_logging`, as the controller and the node use it). The child prints
nothing itself: its stdout is the log, which the tests search for secrets.

python -m tests.secrets.drive pipeline SECRET     structlog and stdlib loggers, with tracebacks
python -m tests.secrets.drive webhooks CONFIG     every webhook of CONFIG gets one notice
python -m tests.secrets.drive console SECRET      the CLI's console logging (install_redaction)
"""

from __future__ import annotations

import asyncio
import logging
import sys
from pathlib import Path

import structlog

from v11node.logging import configure_logging, install_redaction
from v11node.redact import register_secret


def pipeline(secret: str) -> None:
    """Every way a secret reaches a log call: message, field, nested headers, an exception's
    text and traceback, a stdlib record's arguments, URLs, headers and tokens not registered."""
    log = structlog.get_logger("drive")
    log.info(f"connecting with {secret}")
    log.info("request", headers={"Authorization": f"Bearer {secret}", "X-Request-Id": "r-1"})
    log.info("call", url=f"http://127.0.0.1:1/hook?token={secret}&page=2", password=secret)
    try:
        raise RuntimeError(f"refused: credentials {secret}")
    except RuntimeError:
        log.exception("delivery failed")
    uvicorn = logging.getLogger("uvicorn.error")
    uvicorn.warning("bad request from %s with x-api-key: %s", "127.0.0.1", "unregistered-key-1")
    try:
        raise ValueError(f"postgresql://v11:{secret}@db/v11")
    except ValueError:
        uvicorn.exception("Exception in ASGI application")
    logging.getLogger("httpx").info("HTTP Request: POST http://h/x?api_key=unregistered-key-2")
    log.info("token v11_0123456789ab_unregisteredTokenValue123 presented", role="admin")


def webhooks(config_path: Path) -> None:
    """A notice to every webhook of the config (each fails); the notifier logs each failure."""
    from v11ops.config import load_config
    from v11ops.notify import About, Notice, Notifier

    config = load_config(config_path)
    notice = Notice("failed", "failed", About(1, "1.1.0", "1.0.0", "blue-green"), "svc", "x")

    async def send_all() -> None:
        notifier = Notifier(lambda: config)
        for webhook in config.notifications.webhooks:
            await notifier.send(webhook, notice)
        await notifier.aclose(0)

    asyncio.run(send_all())


def console(secret: str) -> None:
    """A CLI process (the router, `monitor`, `backup`): console logs, the stdlib's last resort."""
    install_redaction()
    register_secret(secret)
    structlog.get_logger("drive").warning(f"retrying with {secret}", url="http://h/?token=t0k")
    logging.getLogger("drive").error("giving up: %s", secret)


def main() -> None:
    mode, argument = sys.argv[1], sys.argv[2]
    if mode == "console":
        console(argument)
        return
    configure_logging("drive", "0", "drive")
    logging.getLogger("httpx").setLevel(logging.INFO)  # it logs every request URL at INFO
    if mode == "pipeline":
        pipeline(argument)
    else:
        webhooks(Path(argument))


if __name__ == "__main__":
    main()
