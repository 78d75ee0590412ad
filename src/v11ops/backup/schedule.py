"""`v11ops backup schedule`: a backup every interval (in the foreground, or as a systemd timer).

For SQLite the interval is the RPO: a disaster loses at most the transactions acknowledged since
the last backup's snapshot, about one interval (plus that backup's own duration).
"""

from __future__ import annotations

import re
import shlex
import sys
import time
from collections.abc import Callable
from pathlib import Path

from v11ops.backup.errors import BackupUsageError

_INTERVAL = re.compile(r"^([0-9]+)(s|m|h|d)$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_interval(text: str) -> int:
    """`30s`, `5m`, `1h`, `1d` -> seconds."""
    match = _INTERVAL.match(text.strip())
    if not match or int(match[1]) == 0:
        raise BackupUsageError(f"interval {text!r}: expected a number and s, m, h or d, e.g. 5m")
    return int(match[1]) * _UNIT_S[match[2]]


def run_every(cycle: Callable[[], bool], every_s: float, count: int | None = None) -> int:
    """Run `cycle` every `every_s` seconds (from start to start), `count` times or forever;
    return the number of failed cycles. A slow cycle delays the next one, never overlaps it."""
    failures = done = 0
    next_at = time.monotonic()
    while True:
        if not cycle():
            failures += 1
        done += 1
        if count is not None and done >= count:
            return failures
        next_at = max(next_at + every_s, time.monotonic())
        time.sleep(max(next_at - time.monotonic(), 0))


def systemd_units(config_file: Path, every_s: int, user: str | None = None) -> dict[str, str]:
    """A oneshot service (one backup cycle) and the timer that starts it every interval."""
    argv = [
        sys.executable,
        "-m",
        "v11ops.cli.main",
        "backup",
        "schedule",
        "--once",
        "--file",
        str(config_file.resolve()),
    ]
    service = f"""\
[Unit]
Description=v11ops backup of the Aurigraph V11 ledger (create, prune)
After=network-online.target postgresql.service
Wants=network-online.target

[Service]
Type=oneshot
{f"User={user}" + chr(10) if user else ""}WorkingDirectory={config_file.resolve().parent}
# The key: EnvironmentFile with V11OPS_BACKUP_KEY=..., or backup.key (file:PATH) in the config.
EnvironmentFile=-/etc/v11ops/backup.env
ExecStart={" ".join(shlex.quote(a) for a in argv)}
Nice=10
IOSchedulingClass=idle
"""
    timer = f"""\
[Unit]
Description=v11ops backup every {every_s} s (the SQLite RPO)

[Timer]
OnActiveSec=0
OnUnitActiveSec={every_s}s
AccuracySec=1s

[Install]
WantedBy=timers.target
"""
    return {"v11ops-backup.service": service, "v11ops-backup.timer": timer}
