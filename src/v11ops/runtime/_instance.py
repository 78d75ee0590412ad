"""An instance (one running process of a release in a slot) and how stopping one ended."""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass, field
from dataclasses import fields as dataclass_fields
from typing import Any


@dataclass(frozen=True, slots=True)
class Instance:
    """One started process of a release in a slot, as recorded durably by the runtime."""

    id: str
    slot: str
    version: str
    pid: int
    pgid: int
    port: int
    start_time: int  # /proc/PID/stat field 22: tells this process from a later one with its pid
    fingerprint: str
    started_at: float  # unix time, for people
    log_path: str
    host: str = "127.0.0.1"

    @property
    def base_url(self) -> str:
        """Where the router and the gates reach this instance."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def to_record(self) -> dict[str, Any]:
        """JSON-serialisable form, stored under {state_dir}/instances/."""
        return {"record_version": 1, **asdict(self)}

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> Instance:
        """Inverse of `to_record`; KeyError/TypeError/ValueError for a malformed record."""
        # Keys a later version may add are ignored: a record must never fail to load (its
        # instance would then be treated as an orphan and killed) over an extra field.
        known = {f.name for f in dataclass_fields(cls)}
        instance = cls(**{k: v for k, v in record.items() if k in known})
        for name in ("pid", "pgid", "port", "start_time"):
            if not isinstance(getattr(instance, name), int):
                raise TypeError(f"{name} is not an integer")
        return instance


class StopOutcome(enum.StrEnum):
    """How an instance ended when asked to stop."""

    TERMINATED = "terminated"  # exited within the drain timeout after SIGTERM
    KILLED = "killed"  # still running at the drain timeout: SIGKILL
    ALREADY_EXITED = "already_exited"  # was not running any more


@dataclass(frozen=True, slots=True)
class StopResult:
    """How a stop ended; `exit_code` is known only for a child of this controller."""

    outcome: StopOutcome
    exit_code: int | None
    duration_s: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "outcome": str(self.outcome),
            "exit_code": self.exit_code,
            "duration_s": self.duration_s,
        }


@dataclass(frozen=True, slots=True)
class AdoptResult:
    """What `adopt()` found after a controller (re)start."""

    adopted: list[Instance] = field(default_factory=list)  # recorded and still running
    forgotten: list[Instance] = field(default_factory=list)  # recorded, but dead or pid reused
    reaped: list[int] = field(default_factory=list)  # pids of orphans (ours, unrecorded): killed
