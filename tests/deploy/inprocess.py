"""The controller in-process, for fast strategy and recovery tests.

Real: the Controller, the strategies, the journal and state database, the gates (readiness,
smoke, hooks) and the post-switch window, talking HTTP on loopback. Fakes, named as such:
`FakeNodes` (a tiny HTTP answerer per instance instead of a node process: starting one costs
seconds and the strategies only see its answers) and `FakeRouter` (an in-memory route table:
the controller's router calls are a protocol; the real router has its own tests).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from v11ops.config import ResolvedRelease, load_config
from v11ops.deploy.controller import Controller
from v11ops.deploy.state import TERMINAL, Deployment, StateDB
from v11ops.deploy.traffic import Traffic, WindowTraffic
from v11ops.router.routing import DrainResult
from v11ops.router.stats import RouterStats
from v11ops.router.table import RouteTable
from v11ops.runtime import AdoptResult, Instance, StopOutcome, StopResult, free_port


@dataclass
class Behaviour:
    """How the fake node of a version answers."""

    ready: int = 200
    info_version: str | None = None  # None: its own version
    dies_after_s: float | None = None  # the process "exits" this long after it started
    start_fails: bool = False


class FakeNodes:
    """A runtime whose instances are small asyncio HTTP servers on loopback ports."""

    def __init__(self, behaviours: dict[str, Behaviour] | None = None) -> None:
        self.behaviours = behaviours or {}
        self._servers: dict[str, tuple[Instance, asyncio.Server, float]] = {}
        self._ids = itertools.count(1)
        self.started: list[tuple[str, str]] = []  # (slot, version), in order
        self.stopped: list[str] = []  # slots
        self.killed: set[str] = set()  # slots whose process "died"
        self.adopt_result = AdoptResult()

    def behaviour(self, version: str) -> Behaviour:
        return self.behaviours.get(version, Behaviour())

    # -- the Runtime protocol ------------------------------------------------------------------
    def instances(self) -> list[Instance]:
        return [inst for inst, _, _ in self._servers.values()]

    def is_alive(self, instance: Instance) -> bool:
        entry = self._servers.get(instance.slot)
        if entry is None or entry[0].id != instance.id or instance.slot in self.killed:
            return False
        dies = self.behaviour(instance.version).dies_after_s
        return dies is None or time.monotonic() - entry[2] < dies

    def stop_requested(self, instance: Instance) -> bool:
        return False

    async def start(self, slot: str, release: ResolvedRelease, port: int) -> Instance:
        if self.behaviour(release.version).start_fails:
            raise RuntimeError(f"exec failed for {release.version}")
        old = self._servers.pop(slot, None)
        if old is not None:  # a "dead" instance whose slot is restarted
            old[1].close()
        # reuse_port: a restart binds the same port while the old socket's connections close.
        server = await asyncio.start_server(
            self._answerer(release.version), "127.0.0.1", port, reuse_port=True
        )
        inst = Instance(
            id=f"i{next(self._ids)}", slot=slot, version=release.version, pid=os.getpid(),
            pgid=os.getpid(), port=port, start_time=0, fingerprint=release.fingerprint(),
            started_at=time.time(), log_path="",
        )  # fmt: skip
        self._servers[slot] = (inst, server, time.monotonic())
        self.killed.discard(slot)
        self.started.append((slot, release.version))
        return inst

    async def stop(self, instance: Instance, drain_timeout_s: float) -> StopResult:
        entry = self._servers.pop(instance.slot, None)
        if entry is None:
            return StopResult(StopOutcome.ALREADY_EXITED, None, 0.0)
        entry[1].close()
        await entry[1].wait_closed()
        self.stopped.append(instance.slot)
        return StopResult(StopOutcome.TERMINATED, 0, 0.0)

    async def adopt(self, orphan_grace_s: float = 5.0) -> AdoptResult:
        return self.adopt_result

    async def close(self) -> None:
        for inst in self.instances():
            await self.stop(inst, 0)

    # -- HTTP ------------------------------------------------------------------------------------
    def _answerer(self, version: str) -> Callable[[Any, Any], Awaitable[None]]:
        async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
                path = head.split(b" ", 2)[1].decode()
                status, body = self._reply(version, path)
                payload = json.dumps(body).encode()
                writer.write(
                    f"HTTP/1.1 {status} X\r\ncontent-type: application/json\r\n"
                    f"content-length: {len(payload)}\r\nconnection: close\r\n\r\n".encode()
                    + payload
                )
                await writer.drain()
            except (asyncio.IncompleteReadError, ConnectionError):
                pass
            finally:
                writer.close()

        return answer

    def _reply(self, version: str, path: str) -> tuple[int, Any]:
        b = self.behaviour(version)
        if path.startswith("/q/health/ready"):
            return b.ready, {"status": "UP" if b.ready == 200 else "DOWN"}
        if path.startswith("/api/v11/info"):
            return 200, {"version": b.info_version or version}
        return 404, {"error": "not found"}


class FakeRouter:
    """An in-memory route table with revisions; `fail_sets` makes the next N switches raise."""

    def __init__(self) -> None:
        self.table = RouteTable(())
        self.history: list[RouteTable] = []
        self.drained: list[str] = []
        self.fail_sets = 0
        self.fail_reads = False

    def get_routes(self) -> RouteTable:
        if self.fail_reads:
            raise ConnectionError("router admin socket is gone")
        return self.table

    def set_routes(self, table: RouteTable) -> RouteTable:
        if self.fail_sets:
            self.fail_sets -= 1
            raise ConnectionError("router refused the table")
        self.table = table.with_revision(self.table.revision + 1)
        self.history.append(self.table)
        return self.table

    def drain(self, target: str, timeout_s: float = 30.0) -> DrainResult:
        self.drained.append(target)
        return DrainResult(True, 0, 0.0, (target,))

    def weights(self) -> dict[str, int]:
        return {t.name: t.weight for t in self.table.targets if t.weight}


class CountingTraffic(Traffic):
    """A Traffic whose per-slot counters are set by the test (the builtin router counts them;
    these tests judge what the window does with the counts)."""

    def __init__(self, backend: FakeRouter, counts: WindowTraffic) -> None:
        super().__init__(backend)
        self.counts = counts

    async def snapshot(self) -> RouterStats | None:
        return None

    async def window(self, slot: str, since: RouterStats | None) -> WindowTraffic | None:
        return self.counts


def stack_yaml(
    *,
    window_s: float = 0.3,
    scale_down_s: float = 30.0,
    strategy: str = "",
    hooks: str = "",
    releases: tuple[str, ...] = ("1.0.0", "1.1.0", "1.2.0"),
    top: str = "",
) -> str:
    listed = "\n".join(f'  "{v}": {{}}' for v in releases)
    return f"""\
service:
  name: fake-node
  command: ["/bin/true", "{{port}}"]
  start_timeout_s: 5
  drain_timeout_s: 1
releases:
{listed}
slots:
  blue: {{port: auto}}
  green: {{port: auto}}
router:
  listen: 127.0.0.1:{free_port()}
  metrics_listen: null
strategy:
  blue_green:
    readiness: {{consecutive_passes: 1, interval_s: 0.05, deadline_s: 3}}
    post_switch_window_s: {window_s}
    scale_down_delay_s: {scale_down_s}
    min_requests: 5
{strategy}gates:
  smoke:
    - name: version
      path: /api/v11/info
      expect_status: 200
      expect_json: {{version: "{{version}}"}}
hooks:
{hooks or "  pre_switch: []"}
state_dir: state
{top}"""


@dataclass
class Harness:
    ctl: Controller
    nodes: FakeNodes
    router: FakeRouter
    root: Path
    closers: list[Any] = field(default_factory=list)

    async def deploy(self, version: str, strategy: str | None = None) -> Deployment:
        dep = self.ctl.start_deploy(version, strategy)
        return await self.finished(dep)

    async def finished(self, dep: int, timeout_s: float = 30.0) -> Deployment:
        task = self.ctl._task
        if task is not None:  # shielded: a timeout must fail the test, not cancel the deploy
            await asyncio.wait_for(asyncio.shield(task), timeout_s)
        found = self.ctl.state.deployment(dep)
        assert found is not None and found.status in TERMINAL, found
        return found

    async def paused(self, dep: int, timeout_s: float = 10.0) -> None:
        async with asyncio.timeout(timeout_s):
            while (d := self.ctl.state.deployment(dep)) is None or d.status != "paused":
                await asyncio.sleep(0.02)

    async def step_began(self, dep: int, name: str, timeout_s: float = 10.0) -> None:
        async with asyncio.timeout(timeout_s):
            while not any(s["name"] == name for s in self.ctl.state.steps(dep)):
                await asyncio.sleep(0.01)

    def restart(self) -> Controller:
        """A new controller over the same state, instances and router (a controller restart)."""
        old = self.ctl
        for task in old._scale_downs.values():
            task.cancel()
        self.closers.append(old)
        self.ctl = Controller(old.config, old.state, self.nodes, old.traffic)  # type: ignore[arg-type]
        return self.ctl

    def roles(self) -> dict[str, tuple[str | None, str]]:
        return {n: (s.version, s.role) for n, s in self.ctl.state.slots().items()}

    def live(self) -> dict[str, str | None]:
        return {n: s.version for n, s in self.ctl.state.slots().items() if s.role == "live"}

    def steps(self, dep: int) -> list[tuple[str, str]]:
        return [(s["name"], s["status"]) for s in self.ctl.state.steps(dep)]

    def events(self, dep: int) -> list[str]:
        return [e["kind"] for e in self.ctl.state.events(dep)]

    async def close(self) -> None:
        for task in list(self.ctl._scale_downs.values()):
            task.cancel()
        if self.ctl._task is not None and not self.ctl._task.done():
            self.ctl._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.ctl._task
        for ctl in (*self.closers, self.ctl):
            if ctl._client is not None:
                await ctl._client.aclose()
        await self.nodes.close()
        self.ctl.state.close()


@contextlib.asynccontextmanager
async def harness(
    root: Path,
    yaml_text: str | None = None,
    behaviours: dict[str, Behaviour] | None = None,
    traffic: Callable[[FakeRouter], Traffic] = Traffic,
) -> AsyncIterator[Harness]:
    """`make_harness`, closed afterwards (its instances stopped, its database closed)."""
    h = make_harness(root, yaml_text, behaviours, traffic)
    try:
        yield h
    finally:
        await h.close()


def make_harness(
    root: Path,
    yaml_text: str | None = None,
    behaviours: dict[str, Behaviour] | None = None,
    traffic: Callable[[FakeRouter], Traffic] = Traffic,
) -> Harness:
    root.mkdir(parents=True, exist_ok=True)
    (root / "v11ops.yaml").write_text(yaml_text or stack_yaml())
    config = load_config(root / "v11ops.yaml")
    config.state_path.mkdir(parents=True, exist_ok=True)
    nodes, router = FakeNodes(behaviours), FakeRouter()
    state = StateDB(config.state_path / "state.db")
    ctl = Controller(config, state, nodes, traffic(router))  # type: ignore[arg-type]
    return Harness(ctl, nodes, router, root)
