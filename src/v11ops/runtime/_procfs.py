"""What Linux's /proc says about a process: start time, state, process group, environment.

A restarted controller is not the parent of the instances it adopts, so it cannot wait() for
them; it polls /proc instead. The start time (field 22 of /proc/PID/stat, clock ticks since
boot) tells a process apart from a later one that got the same pid.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

_PROC = Path("/proc")


@dataclass(frozen=True, slots=True)
class ProcStat:
    pid: int
    state: str  # R, S, D, Z (zombie), X (dead), T, ...
    pgid: int
    start_time: int

    @property
    def running(self) -> bool:
        """Not a zombie: a zombie has exited and only waits to be reaped."""
        return self.state not in ("Z", "X")


def read_stat(pid: int) -> ProcStat | None:
    """The parsed /proc/PID/stat, or None when there is no such process."""
    try:
        raw = (_PROC / str(pid) / "stat").read_bytes().decode(errors="replace")
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # Field 2 (comm) is in parentheses and may contain spaces and parentheses: split after
    # the last ")". The rest starts at field 3 (state).
    rest = raw[raw.rindex(")") + 2 :].split()
    return ProcStat(pid=pid, state=rest[0], pgid=int(rest[2]), start_time=int(rest[19]))


def start_time(pid: int) -> int | None:
    """Field 22 of /proc/PID/stat, or None when there is no such process."""
    stat = read_stat(pid)
    return stat.start_time if stat else None


def is_running(pid: int, expected_start_time: int) -> bool:
    """True when `pid` runs (not a zombie) and is the process that started at that time."""
    stat = read_stat(pid)
    return stat is not None and stat.running and stat.start_time == expected_start_time


def _pids() -> list[int]:
    return [int(name) for name in os.listdir(_PROC) if name.isdigit()]


def group_members(pgid: int) -> list[int]:
    """Pids of the running (non-zombie) processes in a process group."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return []
    except PermissionError:
        pass  # members exist but belong to someone else; the scan below decides
    members = []
    for pid in _pids():
        stat = read_stat(pid)
        if stat is not None and stat.pgid == pgid and stat.running:
            members.append(pid)
    return members


def processes_with_env(name: str, value_prefix: str) -> dict[int, str]:
    """Running processes whose initial environment has `name` starting with `value_prefix`."""
    needle = f"{name}={value_prefix}".encode()
    found: dict[int, str] = {}
    for pid in _pids():
        try:
            environ = (_PROC / str(pid) / "environ").read_bytes()
        except OSError:
            continue  # gone, or not ours to read
        if needle not in environ:
            continue
        for entry in environ.split(b"\0"):
            if entry.startswith(needle):
                stat = read_stat(pid)
                if stat is not None and stat.running:
                    found[pid] = entry.split(b"=", 1)[1].decode(errors="replace")
                break
    return found
