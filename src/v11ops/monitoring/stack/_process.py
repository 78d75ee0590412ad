"""A component runs as a detached background process with a pid record.

The record holds the pid, its start time from /proc (a later process that reuses the pid is not
mistaken for it), the argv it was started with (a different one means restart) and a digest of
its config file (a different one means reload).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from v11ops.config import write_text_atomically
from v11ops.runtime._procfs import is_running, read_stat


@dataclass(frozen=True)
class ProcessRecord:
    pid: int
    start_time: int
    argv: list[str]
    config_digest: str

    def alive(self) -> bool:
        return is_running(self.pid, self.start_time)


def read_record(path: Path) -> ProcessRecord | None:
    """The record, or None when there is none (or it is unreadable)."""
    try:
        return ProcessRecord(**json.loads(path.read_text()))
    except (OSError, ValueError, TypeError):
        return None


def spawn(argv: list[str], log: Path, record: Path, config_digest: str) -> ProcessRecord:
    """Start `argv` in its own session (it outlives the CLI), output appended to `log`."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        proc = subprocess.Popen(
            argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip
    stat = read_stat(proc.pid)
    started = ProcessRecord(proc.pid, stat.start_time if stat else 0, argv, config_digest)
    write_text_atomically(record, json.dumps(asdict(started)))
    return started


def reload(record: ProcessRecord, path: Path, config_digest: str) -> ProcessRecord:
    """SIGHUP: Prometheus and Alertmanager re-read their config files (and rule files)."""
    os.kill(record.pid, signal.SIGHUP)
    updated = ProcessRecord(record.pid, record.start_time, record.argv, config_digest)
    write_text_atomically(path, json.dumps(asdict(updated)))
    return updated


def terminate(record: ProcessRecord, path: Path, timeout_s: float = 15.0) -> None:
    """SIGTERM, SIGKILL after `timeout_s`; then the record goes."""
    if record.alive():
        with contextlib.suppress(ProcessLookupError):
            os.kill(record.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while record.alive() and time.monotonic() < deadline:
            time.sleep(0.05)
        if record.alive():
            with contextlib.suppress(ProcessLookupError):
                os.kill(record.pid, signal.SIGKILL)
            while record.alive() and time.monotonic() < deadline + 5:
                time.sleep(0.05)
        _reap(record.pid)
    path.unlink(missing_ok=True)


def _reap(pid: int) -> None:
    # When this process started it, the child is a zombie until waited for.
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)
