"""Persisting the route table so a restarted router routes exactly as before.

Written with write-temp + fsync + rename + fsync(dir): after a crash the file holds either the
old table or the new one, never a torn mix.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from v11ops.router.errors import RouterError
from v11ops.router.table import RouteTable


def save_table(path: Path, table: RouteTable) -> None:
    """Atomically replace the state file at `path` with `table`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = json.dumps(table.to_json(), indent=2, sort_keys=True).encode() + b"\n"
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    # The rename is durable only once the directory entry is on disk.
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def load_table(path: Path) -> RouteTable | None:
    """The table saved at `path`, or None when there is no state file yet."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    try:
        return RouteTable.from_json(json.loads(raw))
    except (ValueError, RouterError) as exc:
        raise RouterError(
            f"state file {path} is unreadable ({exc}); fix or remove it, then restart the router"
        ) from None
