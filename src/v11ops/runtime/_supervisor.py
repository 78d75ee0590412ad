"""Supervision: restart an instance of a live slot that exits unexpectedly, with backoff."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Protocol

from prometheus_client import Counter

from v11ops.config import ResolvedRelease
from v11ops.runtime._instance import Instance, StopResult
from v11ops.runtime._protocol import Runtime

INSTANCE_RESTARTS = Counter(
    "v11ops_instance_restarts_total",
    "Instances restarted by the supervisor after an unexpected exit.",
    ["slot"],
)


class EventSink(Protocol):
    """The controller's timeline: `on_event("instance_restarted", slot="blue", ...)`."""

    def __call__(self, kind: str, /, **fields: object) -> None: ...


def _no_events(kind: str, /, **fields: object) -> None:
    return None


@dataclass(frozen=True, slots=True)
class BackoffPolicy:
    """Delay before restart n (0-based): initial_s * factor**n, at most max_s. An instance that
    ran `reset_after_s` without exiting starts again from initial_s."""

    initial_s: float = 0.5
    factor: float = 2.0
    max_s: float = 30.0
    reset_after_s: float = 60.0

    def delay(self, attempt: int) -> float:
        return float(min(self.max_s, self.initial_s * self.factor**attempt))


@dataclass(slots=True)
class _Watch:
    instance: Instance
    release: ResolvedRelease
    started: float  # monotonic
    attempt: int = 0  # unexpected exits since the last stable period
    restart_at: float | None = None  # set while waiting out the backoff
    restarts: int = 0


class Supervisor:
    """Watches one instance per live slot. A deliberate stop (through `stop` here or directly
    through the runtime) is never followed by a restart."""

    def __init__(
        self,
        runtime: Runtime,
        *,
        on_event: EventSink = _no_events,
        backoff: BackoffPolicy | None = None,
        check_interval_s: float = 0.2,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.runtime = runtime
        self.on_event = on_event
        self.backoff = backoff or BackoffPolicy()
        self.check_interval_s = check_interval_s
        self._clock = clock
        self._watches: dict[str, _Watch] = {}
        self._task: asyncio.Task[None] | None = None

    # -- what is watched ---------------------------------------------------------------------

    def watch(self, instance: Instance, release: ResolvedRelease) -> None:
        """Supervise `instance` (its slot is live); `release` is what a restart starts."""
        self._watches[instance.slot] = _Watch(instance, release, self._clock())

    def unwatch(self, slot: str) -> Instance | None:
        """Stop supervising a slot; returns its current instance."""
        watch = self._watches.pop(slot, None)
        return watch.instance if watch else None

    def instance(self, slot: str) -> Instance | None:
        """The current instance of a watched slot (a restart replaces it)."""
        watch = self._watches.get(slot)
        return watch.instance if watch else None

    def restarts(self, slot: str) -> int:
        """How many times this supervisor restarted the slot since it was watched."""
        watch = self._watches.get(slot)
        return watch.restarts if watch else 0

    async def stop(self, slot: str, drain_timeout_s: float) -> StopResult | None:
        """Deliberately stop a slot's instance: unwatch first, so it is not restarted."""
        instance = self.unwatch(slot)
        if instance is None:
            return None
        return await self.runtime.stop(instance, drain_timeout_s)

    # -- the loop ----------------------------------------------------------------------------

    async def check(self) -> None:
        """One pass: notice exits, and restart slots whose backoff has elapsed."""
        for slot, watch in list(self._watches.items()):
            try:
                if watch.restart_at is None:
                    await self._check_running(slot, watch)
                elif self._clock() >= watch.restart_at:
                    await self._restart(slot, watch)
            except Exception as exc:  # one slot's trouble must not stop the watch of the others
                self.on_event("supervisor_error", slot=slot, error=f"{type(exc).__name__}: {exc}")

    async def _check_running(self, slot: str, watch: _Watch) -> None:
        now = self._clock()
        stable = now - watch.started >= self.backoff.reset_after_s
        if self.runtime.is_alive(watch.instance):
            if stable:
                watch.attempt = 0
            return
        if self.runtime.stop_requested(watch.instance):
            self._watches.pop(slot, None)  # stopped on purpose
            return
        ended = await self.runtime.stop(watch.instance, 0.0)  # forget it, kill its stragglers
        if stable:
            watch.attempt = 0
        delay = self.backoff.delay(watch.attempt)
        watch.attempt += 1
        watch.restart_at = now + delay
        self.on_event(
            "instance_exited",
            slot=slot,
            version=watch.instance.version,
            pid=watch.instance.pid,
            exit_code=ended.exit_code,
            uptime_s=round(now - watch.started, 3),
            restart_in_s=delay,
        )

    async def _restart(self, slot: str, watch: _Watch) -> None:
        try:
            instance = await self.runtime.start(slot, watch.release, watch.instance.port)
        except Exception as exc:  # a restart must not kill the supervisor: retry later
            delay = self.backoff.delay(watch.attempt)
            watch.attempt += 1
            watch.restart_at = self._clock() + delay
            self.on_event("instance_restart_failed", slot=slot, error=str(exc), restart_in_s=delay)
            return
        watch.instance = instance
        watch.started = self._clock()
        watch.restart_at = None
        watch.restarts += 1
        INSTANCE_RESTARTS.labels(slot=slot).inc()
        self.on_event(
            "instance_restarted",
            slot=slot,
            version=instance.version,
            pid=instance.pid,
            restarts=watch.restarts,
            attempt=watch.attempt,
        )

    async def run(self) -> None:
        """Check forever (until cancelled)."""
        while True:
            await self.check()
            await asyncio.sleep(self.check_interval_s)

    async def __aenter__(self) -> Supervisor:
        self._task = asyncio.create_task(self.run(), name="v11ops-supervisor")
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
