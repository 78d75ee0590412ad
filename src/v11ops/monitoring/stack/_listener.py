"""The controller's listener for Alertmanager webhooks (and its /metrics): address and token.

The controller binds it; `monitor up` tells Alertmanager and Prometheus where it is and how to
authenticate. Both sides call these functions, so they agree without talking to each other.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import tempfile
from pathlib import Path

from v11ops.config import Config, resolve_reference, split_host_port
from v11ops.monitoring.stack._layout import Layout
from v11ops.runtime import free_port


def listener_address(config: Config) -> tuple[str, int] | None:
    """(host, port) of the listener, None when it is off. `auto` picks a free loopback port the
    first time and keeps it in the state directory, so the address survives restarts."""
    listen = config.monitoring.webhook.listen
    if listen is None:
        return None
    if listen == "auto":
        listen = create_once(Layout.of(config).listen_file, f"127.0.0.1:{free_port()}")
    return split_host_port(listen)


def listener_url(config: Config) -> str | None:
    address = listener_address(config)
    return None if address is None else f"http://{join_host_port(*address)}"


def listener_token(config: Config) -> str:
    """The bearer token: the config's env:/file: reference, else one generated once (0600)."""
    reference = config.monitoring.webhook.token
    if reference is not None:
        return resolve_reference(reference, config.config_dir, "monitoring.webhook.token")
    return create_once(Layout.of(config).token_file, secrets.token_urlsafe(32))


def create_once(path: Path, text: str) -> str:
    """Write `text` to `path` unless it exists (owner-only); return what the file holds.

    Written whole to a temporary file and hard-linked into place: the link fails when another
    process won the race, and nobody ever reads a half-written file.
    """
    with contextlib.suppress(FileNotFoundError):
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)  # mode 0600
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        with contextlib.suppress(FileExistsError):
            os.link(tmp, path)
    finally:
        os.unlink(tmp)
    return path.read_text().strip()


def join_host_port(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
