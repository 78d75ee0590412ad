"""The Runtime protocol: what the controller needs from any way of running instances.

ProcessRuntime (child processes on this machine) is the embedded default; systemd, docker, ssh
or kubernetes runtimes implement the same protocol.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from v11ops.config import ResolvedRelease
from v11ops.runtime._instance import AdoptResult, Instance, StopResult


@runtime_checkable
class Runtime(Protocol):
    """Starts, stops and finds instances of releases."""

    async def start(self, slot: str, release: ResolvedRelease, port: int) -> Instance:
        """Start one instance of `release` in `slot` listening on `port`; record it durably."""
        ...

    async def stop(self, instance: Instance, drain_timeout_s: float) -> StopResult:
        """Stop on purpose: SIGTERM (or the runtime's equivalent), kill after the timeout."""
        ...

    async def adopt(self) -> AdoptResult:
        """On controller start: take over recorded instances that still run, forget dead ones,
        and kill orphans (ours but unrecorded)."""
        ...

    def is_alive(self, instance: Instance) -> bool:
        """True while the instance runs (and is the same process that was started)."""
        ...

    def stop_requested(self, instance: Instance) -> bool:
        """True once `stop` was called for it: its exit is not a crash."""
        ...

    def instances(self) -> list[Instance]:
        """Instances this runtime started or adopted and has not stopped."""
        ...
