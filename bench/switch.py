"""Blue-green switches: failed requests and latency per switch, rollback times, deploy overhead,
and the nginx router switched by reload against nginx in front of the builtin router.

Not a test: run it by hand and copy the figures into docs/benchmarks.md.

    .venv/bin/python bench/switch.py [--switches 20] [--quick] [--json FILE]

One run, in a temporary folder, loopback only, every load bounded in time:

(a) A stack from `v11ops init`'s default config (free ports, `port: auto`), with a short
    post-switch window and scale-down delay. Load through the builtin router: wrk at a fixed
    connection count, paced by a Lua `delay()` (about 1,100 requests/s of `/api/v11/info`), plus
    a probe of closed-loop Python clients (about 200 requests/s) that records every request's
    send time, latency, status and served version. N consecutive `v11ops deploy` commands
    alternate two good releases; each cycle is: deploy, wait for the old slot's scale-down, a
    steady stretch without any deploy. Failed requests per switch come from the router's
    per-target counters diffed around the cycle (5xx + unrouted), from wrk (socket errors and
    non-2xx) and from the probe. Latency: the probe's p99 around each switch, over each whole
    deploy, and in the steady stretches.
(b) The controller restarted on the default gates; after a deploy, `v11ops rollback` a few
    times: command start to the probe seeing only the old release, and the controller's own
    `rollback_ms`.
(c) With the default gates (window 10 s, max error rate 0.01, min 20 requests), deploy the bad
    release 1.2.0 (50 % of API requests fail): its switch to traffic back on the good release.
(d) From the deploys of (a): total deploy time minus the release's own startup and the configured
    waits. The startup is measured alone: a node process on an existing ledger, started under the
    same load after every fourth cycle, polled every 10 ms until ready; each deploy is paired with
    the sample nearest in time, as the machine's load drifts.
(e) Builtin vs nginx throughput is bench/router_throughput.py.
(f) nginx (own mode, one worker, keep-alive upstream pool) in front of two node processes,
    switched by rewriting its upstream and reloading; then nginx in front of the builtin
    router, which does the switching (nginx never reloads). A wrk run per switch counts the
    failed requests; a stress variant uses trivial nginx upstreams and unpaced wrk.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import http.client
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from _common import (
    NGINX,
    WRK,
    WrkOutput,
    event_at,
    fmt,
    free_port,
    machine,
    parse_wrk,
    say,
    start_builtin,
    start_upstream,
    wait_until,
)
from v11ops.config import DEFAULT_CONFIG_YAML, Config, load_config
from v11ops.deploy.client import ControllerClient, controller_socket
from v11ops.deploy.stack import ensure_controller, ensure_router, stop_controller, stop_router
from v11ops.router import NginxRouter, RouterClient, RouteTable, Target
from v11ops.router.stats import RouterStats

V11OPS = str(Path(sys.executable).with_name("v11ops"))
INFO = "/api/v11/info"
READY = "/q/health/ready"
GOOD = ("1.1.0", "1.0.0")  # alternated by (a); the stack comes up on 1.0.0
BAD = "1.2.0"  # the default config's bad release: V11_FAULT_ERROR_RATE 0.5
FAST_WINDOW_S = 2.0
FAST_SCALE_DOWN_S = 1.0


# -- load: wrk and the probe ---------------------------------------------------------------------


@dataclass(frozen=True)
class LoadShape:
    connections: int
    delay_ms: int  # wrk Lua delay() after each response, per connection; 0: unpaced


class Wrk:
    """One wrk run, stopped with SIGINT (wrk then prints its summary); bounded by -d anyway."""

    def __init__(self, url: str, shape: LoadShape, work: Path, max_s: int = 300) -> None:
        cmd = [str(WRK), "-t1", f"-c{shape.connections}", f"-d{max_s}s", "--latency"]
        if shape.delay_ms:
            script = work / f"delay-{shape.delay_ms}.lua"
            script.write_text(f"function delay()\n  return {shape.delay_ms}\nend\n")
            cmd += ["-s", str(script)]
        self.proc = subprocess.Popen([*cmd, url], stdout=subprocess.PIPE, text=True)

    def stop(self) -> WrkOutput:
        """Stop now and return the summary."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        return self.wait()

    def wait(self) -> WrkOutput:
        """Wait for the end of the run (-d) and return the summary."""
        out, _ = self.proc.communicate(timeout=30)
        return parse_wrk(out)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@contextlib.contextmanager
def wrk_running(url: str, shape: LoadShape, work: Path) -> Iterator[list[WrkOutput]]:
    """wrk for the duration of the block; its output lands in the yielded list."""
    wrk = Wrk(url, shape, work)
    out: list[WrkOutput] = []
    try:
        yield out
        out.append(wrk.stop())
    finally:
        wrk.kill()


@dataclass(frozen=True, slots=True)
class Sample:
    sent: float  # wall clock (time.time()), comparable with the controller's timestamps
    latency_s: float
    status: int  # 0: the request failed in transport
    version: str | None

    @property
    def received(self) -> float:
        return self.sent + self.latency_s

    @property
    def failed(self) -> bool:
        return self.status == 0 or self.status >= 500


class Probe:
    """Closed-loop keep-alive clients, each sending GET /api/v11/info every `interval_s`."""

    def __init__(self, port: int, clients: int = 4, interval_s: float = 0.02) -> None:
        self.port = port
        self.clients = clients
        self.interval_s = interval_s
        self.samples: list[Sample] = []
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self, max_s: float) -> None:
        for i in range(self.clients):
            offset = i * self.interval_s / self.clients
            thread = threading.Thread(target=self._run, args=(offset, max_s), daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=10)

    def between(self, start: float, end: float) -> list[Sample]:
        """Samples sent in [start, end)."""
        return [s for s in list(self.samples) if start <= s.sent < end]

    def _run(self, offset: float, max_s: float) -> None:
        deadline = time.monotonic() + max_s
        next_at = time.monotonic() + offset
        conn: http.client.HTTPConnection | None = None
        while not self._stop.is_set() and time.monotonic() < deadline:
            self._stop.wait(max(0.0, next_at - time.monotonic()))
            next_at = max(next_at + self.interval_s, time.monotonic())
            conn = conn or http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
            sample, keep = _get_info(conn)
            self.samples.append(sample)
            if not keep:
                conn.close()
                conn = None
        if conn is not None:
            conn.close()


def _get_info(conn: http.client.HTTPConnection) -> tuple[Sample, bool]:
    sent, began = time.time(), time.perf_counter()
    try:
        conn.request("GET", INFO)
        response = conn.getresponse()
        body = response.read()
    except (OSError, http.client.HTTPException):
        return Sample(sent, time.perf_counter() - began, 0, None), False
    latency = time.perf_counter() - began
    version = None
    if response.status == 200:
        with contextlib.suppress(ValueError, KeyError, TypeError):
            version = str(json.loads(body)["version"])
    return Sample(sent, latency, response.status, version), not response.will_close


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


def latency_ms(samples: list[Sample], q: float) -> float | None:
    value = percentile([s.latency_s for s in samples if not s.failed], q)
    return None if value is None else value * 1000


# -- the stack -----------------------------------------------------------------------------------


def write_config(path: Path, router_port: int, *, fast: bool) -> None:
    """`v11ops init`'s default with free ports; `fast`: short window and scale-down delay."""
    edits = [
        ("listen: 127.0.0.1:8080", f"listen: 127.0.0.1:{router_port}"),
        ("metrics_listen: 127.0.0.1:9180", "metrics_listen: null"),
        ("port: 9003", "port: auto"),
        ("port: 9004", "port: auto"),
    ]
    if fast:
        edits += [
            ("post_switch_window_s: 10 ", f"post_switch_window_s: {FAST_WINDOW_S:g} "),
            ("scale_down_delay_s: 30 ", f"scale_down_delay_s: {FAST_SCALE_DOWN_S:g} "),
        ]
    text = DEFAULT_CONFIG_YAML
    for old, new in edits:
        assert old in text, old
        text = text.replace(old, new)
    path.write_text(text)


class Stack:
    """A v11ops stack in `root`: its config file, router, controller and slots."""

    def __init__(self, root: Path, router_port: int, *, fast: bool) -> None:
        root.mkdir(parents=True, exist_ok=True)
        self.root = root
        self.router_port = router_port
        write_config(self.file, router_port, fast=fast)
        self.config: Config = load_config(self.file)

    @property
    def file(self) -> Path:
        return self.root / "v11ops.yaml"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.router_port}"

    def cli(self, *args: str, timeout: float = 120) -> tuple[dict[str, Any], float, float]:
        """Run `v11ops ARGS --json --file F`; (its JSON, wall clock at start, at exit)."""
        began = time.time()
        result = subprocess.run(
            [V11OPS, *args, "--json", "--file", str(self.file)],
            capture_output=True, text=True, timeout=timeout, cwd=self.root, check=False,
        )  # fmt: skip
        ended = time.time()
        try:
            return dict(json.loads(result.stdout)), began, ended
        except ValueError:
            raise SystemExit(f"v11ops {' '.join(args)}: {result.stderr or result.stdout}") from None

    def stats(self) -> RouterStats:
        with RouterClient(self.config.admin_socket_path) as router:
            return router.stats()

    def slots(self) -> dict[str, dict[str, Any]]:
        with ControllerClient(controller_socket(self.config)) as client:
            return dict(client.status()["slots"])

    def role(self, role: str) -> dict[str, Any] | None:
        return next((s for s in self.slots().values() if s["role"] == role), None)

    def up(self) -> None:
        """Start the router and the controller, and deploy the first release."""
        ensure_router(self.config)
        ensure_controller(self.config)
        detail, _, _ = self.cli("deploy", GOOD[1])
        if detail["status"] != "succeeded":
            raise SystemExit(f"the first deploy failed: {detail['reason']}")

    def restart_controller(self, *, fast: bool) -> None:
        """Rewrite the config and restart the controller; slots and router keep running."""
        stop_controller(self.config, stop_slots=False)
        write_config(self.file, self.router_port, fast=fast)
        self.config = load_config(self.file)
        ensure_controller(self.config)

    def down(self) -> None:
        """Stop slots, controller and router; then any slot process the controller left."""
        with contextlib.suppress(Exception):
            stop_controller(self.config, stop_slots=True)
        with contextlib.suppress(Exception):
            stop_router(self.config)
        state = self.config.state_path
        for record in (state / "instances").glob("*.json"):
            with contextlib.suppress(OSError, ValueError, KeyError):
                pgid = int(json.loads(record.read_text())["pgid"])
                # Only a process of this stack: its command line names this state dir.
                if str(state).encode() in Path(f"/proc/{pgid}/cmdline").read_bytes():
                    os.killpg(pgid, signal.SIGKILL)


def failed_in(window: RouterStats) -> tuple[int, int, dict[str, int]]:
    """(requests, failed = 5xx + unrouted, upstream errors by kind) of a stats diff."""
    requests = sum(t.requests for t in window.targets) + window.unrouted
    failed = sum(t.responses_5xx for t in window.targets) + window.unrouted
    errors: dict[str, int] = {}
    for t in window.targets:
        for kind, n in t.errors.items():
            errors[kind] = errors.get(kind, 0) + n
    return requests, failed, errors


# -- (d) the release's own startup ---------------------------------------------------------------


def node_argv(port: int, data_dir: Path, version: str) -> list[str]:
    """The default config's node command, on its own SQLite ledger in `data_dir`."""
    return [
        sys.executable, "-m", "v11ops.cli.main", "node", "run", "--port", str(port),
        "--db", f"sqlite:///{data_dir / 'ledger.db'}", "--node-id", data_dir.name,
        "--release", version, "--data-dir", str(data_dir),
    ]  # fmt: skip


def spawn_node(work: Path, name: str, version: str) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    data = work / name
    data.mkdir(parents=True, exist_ok=True)
    with (work / f"{name}.log").open("ab") as log:
        proc = subprocess.Popen(
            node_argv(port, data, version),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    return proc, port


def stop_node(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def ready(port: int) -> bool:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
    try:
        conn.request("GET", READY)
        return conn.getresponse().status == 200
    except (OSError, http.client.HTTPException):
        return False
    finally:
        conn.close()


def measure_startup(work: Path) -> float:
    """Seconds from spawning a node process to its first 200 on the ready path (10 ms polls).

    Every start uses the same ledger, as a release in a slot opens the stack's existing one;
    the caller discards the first start, which creates the ledger and its genesis.
    """
    began = time.time()
    proc, port = spawn_node(work, "startup", GOOD[0])
    try:
        deadline = time.monotonic() + 60
        while not ready(port):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the startup probe node did not become ready; see {work}")
            time.sleep(0.01)
        return time.time() - began
    finally:
        stop_node(proc)


# -- (a) switches under load ---------------------------------------------------------------------


@dataclass
class Switch:
    index: int
    version: str
    status: str
    cli: tuple[float, float]  # wall clock: the deploy command started, exited
    started_at: float  # the controller's timestamps (wall clock)
    switched_at: float
    finished_at: float
    steps: dict[str, float]
    cycle_s: float  # deploy + scale-down + steady stretch, the span of the counts below
    router_requests: int
    router_failed: int
    router_errors: dict[str, int]
    retries: int
    probe_requests: int
    probe_failed: int
    wrk: WrkOutput | None = None
    steady: tuple[float, float] = (0.0, 0.0)

    @property
    def total_s(self) -> float:
        """The deploy as the controller timed it."""
        return self.finished_at - self.started_at

    @property
    def cli_s(self) -> float:
        """The deploy as `v11ops deploy` took it, command start to exit."""
        return self.cli[1] - self.cli[0]

    @property
    def cli_before_s(self) -> float:
        """From the command's start to the controller creating the deployment."""
        return self.started_at - self.cli[0]


def step_durations(detail: dict[str, Any]) -> dict[str, float]:
    return {
        s["name"]: s["finishedAt"] - s["startedAt"]
        for s in detail["steps"]
        if s["finishedAt"] is not None
    }


def one_switch(stack: Stack, probe: Probe, index: int, shape: LoadShape, steady_s: float) -> Switch:
    """A cycle: deploy, the old slot's scale-down, a steady stretch; load all along."""
    version = GOOD[index % 2]
    before = stack.stats()
    cycle_began = time.time()
    with wrk_running(stack.url + INFO, shape, stack.root) as wrk:
        detail, began, ended = stack.cli("deploy", version)
        wait_until("the old slot's scale-down", lambda: stack.role("warm") is None, 60)
        steady_from = time.time()
        time.sleep(steady_s)
        steady_to = time.time()
    window = stack.stats().since(before)
    requests, failed, errors = failed_in(window)
    samples = probe.between(cycle_began, steady_to)
    return Switch(
        index=index,
        version=version,
        status=detail["status"],
        cli=(began, ended),
        started_at=detail["started_at"],
        switched_at=event_at(detail, "switched") or 0.0,
        finished_at=detail["finished_at"],
        steps=step_durations(detail),
        cycle_s=steady_to - cycle_began,
        router_requests=requests,
        router_failed=failed,
        router_errors=errors,
        retries=window.retries,
        probe_requests=len(samples),
        probe_failed=sum(s.failed for s in samples),
        wrk=wrk[0] if wrk else None,
        steady=(steady_from, steady_to),
    )


@dataclass
class LatencyRow:
    name: str
    samples: int
    p50_ms: float | None
    p99_ms: float | None
    max_ms: float | None
    p99_median_ms: float | None  # median over the switches of each one's p99


def latency_rows(probe: Probe, switches: list[Switch]) -> list[LatencyRow]:
    """The probe's latency in the steady stretches, around each switch, over each deploy.

    The second before the switch holds the smoke checks and the pre-switch hook; the whole
    deploy also the new release's start-up, which takes CPU from everything else.
    """
    windows: dict[str, list[tuple[float, float]]] = {
        "steady (no deploy)": [s.steady for s in switches],
        "1 s before the switch": [(s.switched_at - 1, s.switched_at) for s in switches],
        "1 s after the switch": [(s.switched_at, s.switched_at + 1) for s in switches],
        "whole deploy": [(s.started_at, s.finished_at) for s in switches],
    }
    rows = []
    for name, spans in windows.items():
        parts = [probe.between(a, b) for a, b in spans]
        pooled = [x for part in parts for x in part]
        each = [p for p in (latency_ms(part, 0.99) for part in parts) if p is not None]
        rows.append(
            LatencyRow(
                name,
                len(pooled),
                latency_ms(pooled, 0.5),
                latency_ms(pooled, 0.99),
                latency_ms(pooled, 1.0),
                statistics.median(each) if each else None,
            )
        )
    return rows


# -- (b) fast rollback and (c) a bad release -----------------------------------------------------


@dataclass
class Rollback:
    to_version: str
    status: str
    command_to_all_old_s: float | None  # command start -> the probe sees only the old release
    request_to_all_old_s: float | None  # controller got the request -> the same moment
    command_to_request_s: float  # the CLI's own start-up, until the controller had the request
    rollback_ms: float | None  # the controller's own figure (switch_back step)
    cli_s: float


def all_on(samples: list[Sample], version: str) -> float | None:
    """Receive time of the first response of the final run of `version`-only responses."""
    last_other = max((i for i, s in enumerate(samples) if s.version != version), default=-1)
    rest = samples[last_other + 1 :]
    return rest[0].received if rest else None


def one_rollback(stack: Stack, probe: Probe) -> Rollback:
    warm = stack.role("warm")
    assert warm is not None, "no warm slot to roll back to"
    target = str(warm["version"])
    detail, began, ended = stack.cli("rollback")
    time.sleep(0.5)  # let the probe see the traffic settle
    samples = sorted(probe.between(began, time.time()), key=lambda s: s.sent)
    flipped = all_on(samples, target)
    back = [s for s in detail["steps"] if s["name"] == "switch_back"]
    rollback_ms = back[0]["detail"].get("rollback_ms") if back and back[0]["detail"] else None
    return Rollback(
        to_version=target,
        status=detail["status"],
        command_to_all_old_s=None if flipped is None else flipped - began,
        request_to_all_old_s=None if flipped is None else flipped - detail["started_at"],
        command_to_request_s=detail["started_at"] - began,
        rollback_ms=rollback_ms,
        cli_s=ended - began,
    )


@dataclass
class BadDeploy:
    status: str
    reason: str | None
    switch_to_rolled_back_s: float | None  # controller events: switched -> rolled_back
    switch_to_all_good_s: float | None  # switched event -> the probe sees only the good release
    bad_responses_seen_s: float | None  # first to last failed/bad response the probe received
    rollback_ms: float | None
    router_failed: int
    cli_s: float


def one_bad_deploy(stack: Stack, probe: Probe) -> BadDeploy:
    live = stack.role("live")
    assert live is not None
    good = str(live["version"])
    before = stack.stats()
    detail, began, ended = stack.cli("deploy", BAD)
    time.sleep(0.5)
    samples = sorted(probe.between(began, time.time()), key=lambda s: s.sent)
    switched, back = event_at(detail, "switched"), event_at(detail, "rolled_back")
    all_good = all_on(samples, good)
    bad = [s for s in samples if s.failed or s.version == BAD]
    steps = [s for s in detail["steps"] if s["name"] == "switch_back" and s["detail"]]
    return BadDeploy(
        status=detail["status"],
        reason=detail["reason"],
        switch_to_rolled_back_s=back - switched if switched and back else None,
        switch_to_all_good_s=all_good - switched if switched and all_good else None,
        bad_responses_seen_s=bad[-1].received - bad[0].sent if bad else None,
        rollback_ms=steps[0]["detail"].get("rollback_ms") if steps else None,
        router_failed=failed_in(stack.stats().since(before))[1],
        cli_s=ended - began,
    )


# -- (f) nginx --------------------------------------------------------------------------------


@dataclass
class NginxSwitch:
    layout: str
    index: int
    switch_s: float  # how long the switch call took (nginx: render + nginx -t + reload + confirm)
    wrk: WrkOutput
    router_failed: int | None = None  # the builtin router's 5xx + unrouted (nginx -> builtin)


@dataclass(frozen=True)
class Layout:
    """A router layout under test: where wrk sends, how to switch, the builtin's counters."""

    name: str
    url: str
    switch: Callable[[Target], object]
    stats: Callable[[], RouterStats] | None = None


Pair = tuple[Target, Target]


def nginx_switches(
    layout: Layout, targets: Pair, count: int, shape: LoadShape, work: Path
) -> list[NginxSwitch]:
    """`count` wrk runs of 2 s, each with one switch 0.7 s in, alternating the two targets."""
    results = []
    for i in range(count):
        before = layout.stats() if layout.stats else None
        wrk = Wrk(layout.url, shape, work, max_s=2)
        try:
            time.sleep(0.7)
            began = time.perf_counter()
            layout.switch(targets[(i + 1) % 2])
            took = time.perf_counter() - began
            out = wrk.wait()
        finally:
            wrk.kill()
        failed = None
        if layout.stats and before:
            failed = failed_in(layout.stats().since(before))[1]
        results.append(NginxSwitch(layout.name, i, took, out, failed))
    return results


def node_upstreams(work: Path, cleanup: contextlib.ExitStack) -> Pair:
    """Two node processes (releases 1.0.0 and 1.1.0), each on its own ledger."""
    blue, blue_port = spawn_node(work, "nginx-blue", GOOD[1])
    cleanup.callback(stop_node, blue)
    green, green_port = spawn_node(work, "nginx-green", GOOD[0])
    cleanup.callback(stop_node, green)
    for port in (blue_port, green_port):
        wait_until("an upstream node", functools.partial(ready, port), 60)
    blue_url, green_url = f"http://127.0.0.1:{blue_port}", f"http://127.0.0.1:{green_port}"
    return Target("blue", blue_url, 100, GOOD[1]), Target("green", green_url, 100, GOOD[0])


def trivial_upstreams(work: Path, cleanup: contextlib.ExitStack) -> Pair:
    """Two nginx processes answering `return 200 "ok"`."""
    urls = []
    for name in ("blue", "green"):
        folder = work / f"trivial-{name}"
        folder.mkdir()
        port, pid_file = start_upstream(folder)
        cleanup.callback(_quit_nginx, pid_file)
        urls.append(f"http://127.0.0.1:{port}")
    return Target("blue", urls[0], 100, "trivial"), Target("green", urls[1], 100, "trivial")


def _quit_nginx(pid_file: Path) -> None:
    with contextlib.suppress(OSError, ValueError):
        os.kill(int(pid_file.read_text()), signal.SIGQUIT)


def own_nginx(work: Path, name: str, cleanup: contextlib.ExitStack) -> NginxRouter:
    nginx = NginxRouter.own(work / name, ("127.0.0.1", free_port()))
    nginx.start()
    cleanup.callback(nginx.stop)
    return nginx


def run_nginx_layouts(
    work: Path, targets: Pair, count: int, shape: LoadShape, tag: str
) -> list[NginxSwitch]:
    """nginx switched by reload, then nginx -> builtin router switched by the router."""
    with contextlib.ExitStack() as cleanup:
        alone = own_nginx(work, f"nginx-reload-{tag}", cleanup)
        alone.set_routes(RouteTable((targets[0],)))
        layout = Layout(
            "nginx reload", f"http://127.0.0.1:{alone.listen[1]}{INFO}",
            lambda t: alone.set_routes(RouteTable((t,))),
        )  # fmt: skip
        results = nginx_switches(layout, targets, count, shape, work)
        alone.stop()
        folder = work / f"builtin-{tag}"
        folder.mkdir()
        proc, port = start_builtin(folder, targets[0].url)
        cleanup.callback(_stop_process, proc)
        front = own_nginx(work, f"nginx-front-{tag}", cleanup)
        front.set_routes(RouteTable((Target("router", f"http://127.0.0.1:{port}"),)))
        with RouterClient(folder / "router.sock") as router:
            layout = Layout(
                "nginx -> builtin", f"http://127.0.0.1:{front.listen[1]}{INFO}",
                lambda t: router.set_routes(RouteTable((t,))), router.stats,
            )  # fmt: skip
            results += nginx_switches(layout, targets, count, shape, work)
    return results


def _stop_process(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# -- the machine ---------------------------------------------------------------------------------


class LoadWatch:
    """The 1-minute load average and the share of CPU time busy, sampled every 5 s."""

    def __init__(self) -> None:
        self.load: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._first = _cpu_times()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def busy(self) -> float:
        """Share of all cores' time not idle since the watch was created."""
        (busy0, total0), (busy1, total1) = self._first, _cpu_times()
        return (busy1 - busy0) / max(1, total1 - total0)

    def _run(self) -> None:
        deadline = time.monotonic() + 1800
        while not self._stop.is_set() and time.monotonic() < deadline:
            self.load.append(os.getloadavg()[0])
            self._stop.wait(5)


def _cpu_times() -> tuple[int, int]:
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields)


# -- the run -------------------------------------------------------------------------------------


@dataclass
class Results:
    machine: str
    args: dict[str, Any]
    startup_s: list[float] = field(default_factory=list)
    startup_at: list[float] = field(default_factory=list)  # when each was measured (wall clock)
    switches: list[Switch] = field(default_factory=list)
    latency: list[LatencyRow] = field(default_factory=list)
    rollbacks: list[Rollback] = field(default_factory=list)
    bad_deploys: list[BadDeploy] = field(default_factory=list)
    nginx: list[NginxSwitch] = field(default_factory=list)
    nginx_stress: list[NginxSwitch] = field(default_factory=list)
    load_average: list[float] = field(default_factory=list)
    cpu_busy: float = 0.0
    took_s: float = 0.0


def run_stack_phases(work: Path, args: argparse.Namespace, res: Results) -> None:
    """(a)-(d) on one stack; it is torn down at the end (or on failure)."""
    say("starting the stack (router, controller, first release)")
    with contextlib.ExitStack() as cleanup:
        stack = Stack(work / "stack", free_port(), fast=True)
        cleanup.callback(stack.down)
        stack.up()
        probe = Probe(stack.router_port)
        probe.start(max_s=1800)
        cleanup.callback(probe.stop)
        run_switches(stack, probe, work, args, res)
        say("(b) restarting the controller on the default gates")
        stack.restart_controller(fast=False)
        run_rollbacks(stack, probe, work, args, res)


def run_switches(
    stack: Stack, probe: Probe, work: Path, args: argparse.Namespace, res: Results
) -> None:
    """(a), with a startup sample (d) after every `startup_every` cycles."""
    shape = LoadShape(args.connections, args.delay_ms)
    with wrk_running(stack.url + INFO, shape, work):
        say(f"(d) creating the startup probe's ledger: {measure_startup(work):.2f}s")
    for i in range(args.switches):
        res.switches.append(one_switch(stack, probe, i, shape, args.steady_s))
        say(f"(a) {_switch_line(res.switches[-1])}")
        if i % args.startup_every == 0:  # interleaved: the machine's load drifts
            with wrk_running(stack.url + INFO, shape, work):
                res.startup_s.append(measure_startup(work))
                res.startup_at.append(time.time())
            say(f"(d) node startup alone, under load: {res.startup_s[-1]:.2f}s")
    res.latency = latency_rows(probe, res.switches)


def run_rollbacks(
    stack: Stack, probe: Probe, work: Path, args: argparse.Namespace, res: Results
) -> None:
    """(b) and (c) on the default gates, under the same load as (a)."""
    with wrk_running(stack.url + INFO, LoadShape(args.connections, args.delay_ms), work):
        detail, began, ended = stack.cli("deploy", GOOD[len(res.switches) % 2])
        say(f"(b) deploy on the default window: {detail['status']} in {ended - began:.1f}s")
        for _ in range(args.rollbacks):
            r = one_rollback(stack, probe)
            res.rollbacks.append(r)
            say(
                f"(b) rollback to {r.to_version}: {r.status}; command → all traffic on it "
                f"{fmt(r.command_to_all_old_s, 3)}s, controller {fmt(r.rollback_ms, 1)} ms"
            )
            time.sleep(1)
        for _ in range(args.bad_deploys):
            b = one_bad_deploy(stack, probe)
            res.bad_deploys.append(b)
            say(
                f"(c) bad release: {b.status}; switch → all good "
                f"{fmt(b.switch_to_all_good_s, 3)}s; {b.reason}"
            )
            time.sleep(1)


def _switch_line(s: Switch) -> str:
    wrk = f"wrk {s.wrk.requests_per_s:,.0f}/s failed {s.wrk.failed}" if s.wrk else "no wrk"
    return (
        f"switch {s.index + 1} to {s.version}: {s.status}, cli {s.cli_s:.2f}s, "
        f"controller {s.total_s:.2f}s; router {s.router_requests} requests, "
        f"{s.router_failed} failed, {s.retries} retried; probe {s.probe_failed} failed; {wrk}"
    )


def run_nginx_phases(work: Path, args: argparse.Namespace, res: Results) -> None:
    """(f): two node processes, then trivial upstreams (stress: unpaced wrk)."""
    folder = work / "nginx"
    folder.mkdir()
    with contextlib.ExitStack() as cleanup:
        say("(f) nginx in front of two node processes")
        targets = node_upstreams(folder, cleanup)
        shape = LoadShape(args.connections, args.delay_ms)
        res.nginx = run_nginx_layouts(folder, targets, args.nginx_switches, shape, "nodes")
    for r in res.nginx:
        say(f"(f) {r.layout} #{r.index + 1}: failed {r.wrk.failed} {r.wrk.socket_errors}")
    if not args.stress_switches:
        return
    with contextlib.ExitStack() as cleanup:
        say("(f) stress: trivial upstreams, unpaced wrk")
        targets = trivial_upstreams(folder, cleanup)
        shape = LoadShape(args.stress_connections, 0)
        res.nginx_stress = run_nginx_layouts(
            folder, targets, args.stress_switches, shape, "trivial"
        )


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--switches", type=int, default=20, help="(a) consecutive deploys")
    parser.add_argument("--quick", action="store_true", help="a few of everything (~3 min)")
    parser.add_argument("--connections", type=int, default=14, help="wrk connections")
    parser.add_argument("--delay-ms", type=int, default=8, help="wrk delay after each response")
    parser.add_argument("--steady-s", type=float, default=2.0, help="steady stretch per cycle")
    parser.add_argument("--stress-connections", type=int, default=50)
    parser.add_argument("--json", type=Path, help="also write every figure to this file")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (logs)")
    args = parser.parse_args()
    args.startup_every, args.rollbacks, args.bad_deploys = 4, 5, 3
    args.nginx_switches, args.stress_switches = args.switches, 10
    if args.quick:
        args.switches = min(args.switches, 4)
        args.startup_every, args.rollbacks, args.bad_deploys = 2, 2, 1
        args.nginx_switches, args.stress_switches = 4, 0
    return args


def main() -> None:
    args = parse_args()
    for binary in (NGINX, WRK):
        if not binary.exists():
            raise SystemExit(f"{binary} is missing: apt-get install nginx wrk")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the cleanups on SIGTERM too
    res = Results(machine(), {k: str(v) for k, v in vars(args).items()})
    work = Path(tempfile.mkdtemp(prefix="v11bench-switch-"))
    watch = LoadWatch()
    watch.start()
    began = time.monotonic()
    try:
        run_stack_phases(work, args, res)
        run_nginx_phases(work, args, res)
    finally:
        watch.stop()
        res.load_average, res.cpu_busy = watch.load, watch.busy()
        res.took_s = time.monotonic() - began
        if args.keep:
            say(f"work folder kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    if args.json:
        args.json.write_text(json.dumps(asdict(res), indent=2, default=str))
    report(res, args)


# -- the report ----------------------------------------------------------------------------------


def _median(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def _met(ok: bool) -> str:
    return "**met**" if ok else "**not met**"


def report(res: Results, args: argparse.Namespace) -> None:
    load = res.load_average or [0.0]
    print(
        f"machine: {res.machine}; load average (1 min) {min(load):.2f} to {max(load):.2f}, "
        f"median {statistics.median(load):.2f}; CPU busy {100 * res.cpu_busy:.0f} % of all "
        f"cores over the run; run took {res.took_s / 60:.1f} min"
    )
    report_switches(res, args)
    report_rollbacks(res)
    report_overhead(res)
    report_nginx("(f) nginx, two node upstreams, same paced load as (a)", res.nginx)
    if res.nginx_stress:
        title = f"(f) stress: trivial upstreams, unpaced wrk -c{args.stress_connections}"
        report_nginx(title, res.nginx_stress)


def report_switches(res: Results, args: argparse.Namespace) -> None:
    sw = res.switches
    print(
        f"\n(a) {len(sw)} switches; wrk -t1 -c{args.connections} with delay() "
        f"{args.delay_ms} ms + probe 4 x 50/s; window {FAST_WINDOW_S:g}s, scale-down "
        f"{FAST_SCALE_DOWN_S:g}s"
    )
    print(
        "| # | to | outcome | router requests | req/s | failed (5xx + unrouted) | retried "
        "| probe failed | wrk failed | wrk p99 ms |"
    )
    print("|---:|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for s in sw:
        w = s.wrk
        print(
            f"| {s.index + 1} | {s.version} | {s.status} | {s.router_requests:,} "
            f"| {s.router_requests / s.cycle_s:,.0f} | {s.router_failed} | {s.retries} "
            f"| {s.probe_failed} | {w.failed if w else '-'} | {fmt(w.p99_ms if w else None)} |"
        )
    failed = sum(s.router_failed for s in sw)
    wrk_failed = sum(s.wrk.failed for s in sw if s.wrk)
    probe_failed = sum(s.probe_failed for s in sw)
    print(
        f"total: {sum(s.router_requests for s in sw):,} requests through the router "
        f"({sum(s.router_requests for s in sw) / sum(s.cycle_s for s in sw):,.0f}/s), "
        f"{failed} failed (router), {wrk_failed} (wrk), {probe_failed} (probe); "
        f"target 0: {_met(failed + wrk_failed + probe_failed == 0)}"
    )
    errors: dict[str, int] = {}
    for s in sw:
        for k, n in s.router_errors.items():
            errors[k] = errors.get(k, 0) + n
    print(f"router upstream errors (retried or not): {errors or 'none'}")
    print("\n| probe latency | samples | p50 ms | p99 ms | max ms | median of per-switch p99 ms |")
    print("|---|---:|---:|---:|---:|---:|")
    for r in res.latency:
        print(
            f"| {r.name} | {r.samples:,} | {fmt(r.p50_ms)} | {fmt(r.p99_ms)} | {fmt(r.max_ms)} "
            f"| {fmt(r.p99_median_ms)} |"
        )


def report_rollbacks(res: Results) -> None:
    rb = res.rollbacks
    print("\n(b) fast-path rollback, default config, load as in (a)")
    print(
        "| # | to | outcome | command → all traffic on it s | command → request at the "
        "controller s | request → all on it s | controller rollback_ms | CLI exited after s |"
    )
    print("|---:|---|---|---:|---:|---:|---:|---:|")
    for i, r in enumerate(rb, 1):
        print(
            f"| {i} | {r.to_version} | {r.status} | {fmt(r.command_to_all_old_s, 3)} "
            f"| {fmt(r.command_to_request_s, 3)} | {fmt(r.request_to_all_old_s, 3)} "
            f"| {fmt(r.rollback_ms, 1)} | {fmt(r.cli_s)} |"
        )
    request = _median([r.request_to_all_old_s for r in rb])
    print(f"median request at the controller → all traffic on the old release: {fmt(request, 3)} s")
    cmd = _median([r.command_to_all_old_s for r in rb])
    print(
        f"median command → all traffic on the old release: {fmt(cmd, 3)} s; "
        f"target <= 1 s: {_met(cmd is not None and cmd <= 1)}"
    )
    print("\n(c) bad release 1.2.0 (50 % of API requests fail), default gates, load as in (a)")
    print(
        "| # | outcome | switched → rolled_back s (controller) | switched → probe sees only "
        "the good release s | bad responses seen over s | rollback_ms | failed requests |"
    )
    print("|---:|---|---:|---:|---:|---:|---:|")
    for i, b in enumerate(res.bad_deploys, 1):
        print(
            f"| {i} | {b.status} | {fmt(b.switch_to_rolled_back_s, 3)} "
            f"| {fmt(b.switch_to_all_good_s, 3)} | {fmt(b.bad_responses_seen_s, 3)} "
            f"| {fmt(b.rollback_ms, 1)} | {b.router_failed} |"
        )
    back = _median([b.switch_to_all_good_s for b in res.bad_deploys])
    print(
        f"median switch → traffic back on the good release: {fmt(back, 3)} s; target <= 15 s: "
        f"{_met(back is not None and back <= 15)}"
    )


def nearest_startup(res: Results, s: Switch) -> float:
    """The startup sample measured closest in time to this deploy (the machine's load drifts)."""
    at = min(range(len(res.startup_at)), key=lambda i: abs(res.startup_at[i] - s.started_at))
    return res.startup_s[at]


def overhead_rows(res: Results, sw: list[Switch], waits: float) -> list[tuple[str, list[float]]]:
    """Each part of the deploys and the overheads, one list of values per row."""
    names = ["start", "readiness", "smoke", "pre_switch", "switch", "post_switch_window"]
    median = statistics.median(res.startup_s)
    return [(n, [s.steps.get(n, 0.0) for s in sw]) for n in names] + [
        ("outside the journaled steps", [s.total_s - sum(s.steps.values()) for s in sw]),
        ("readiness - 2 x 0.2 s (startup inside the deploy)",
         [s.steps.get("readiness", 0.0) - 0.4 for s in sw]),
        ("**total (controller)**", [s.total_s for s in sw]),
        ("**overhead (controller)**: total - nearest startup - waits",
         [s.total_s - nearest_startup(res, s) - waits for s in sw]),
        ("overhead (controller) with the median startup instead",
         [s.total_s - median - waits for s in sw]),
        ("total - readiness step - configured window (no startup figure needed)",
         [s.total_s - s.steps.get("readiness", 0.0) - FAST_WINDOW_S for s in sw]),
        ("CLI: command start → deployment created", [s.cli_before_s for s in sw]),
        ("CLI: deployment finished → command exited", [s.cli[1] - s.finished_at for s in sw]),
        ("**total (CLI)**", [s.cli_s for s in sw]),
        ("**overhead (CLI)**: total - nearest startup - waits",
         [s.cli_s - nearest_startup(res, s) - waits for s in sw]),
    ]  # fmt: skip


def report_overhead(res: Results) -> None:
    sw = [s for s in res.switches if s.status == "succeeded"]
    if not sw or not res.startup_s:
        return
    waits = FAST_WINDOW_S + 3 * 0.2  # the window + readiness consecutive_passes x interval_s
    print(
        f"\n(d) node startup alone, under load: {', '.join(f'{s:.2f}' for s in res.startup_s)}"
        f" s, median {statistics.median(res.startup_s):.2f} s; configured waits {waits:g} s "
        f"(window {FAST_WINDOW_S:g} s + readiness 3 x 0.2 s)"
    )
    print("| part of the deploy | median s | max s |")
    print("|---|---:|---:|")
    for name, values in overhead_rows(res, sw, waits):
        print(f"| {name} | {statistics.median(values):.3f} | {max(values):.3f} |")
    over_s = statistics.median([s.total_s - nearest_startup(res, s) - waits for s in sw])
    print(f"median overhead (controller): {over_s:.2f} s; target <= 2 s: {_met(over_s <= 2)}")


def report_nginx(title: str, runs: list[NginxSwitch]) -> None:
    print(f"\n{title}")
    print(
        "| layout | switches | failed requests total | per switch (each) | wrk req/s median "
        "| wrk p99 ms median | switch call ms median | builtin router 5xx |"
    )
    print("|---|---:|---:|---|---:|---:|---:|---:|")
    for layout in dict.fromkeys(r.layout for r in runs):
        mine = [r for r in runs if r.layout == layout]
        each = " ".join(str(r.wrk.failed) for r in mine)
        router = [r.router_failed for r in mine if r.router_failed is not None]
        print(
            f"| {layout} | {len(mine)} | {sum(r.wrk.failed for r in mine)} | {each} "
            f"| {statistics.median(r.wrk.requests_per_s for r in mine):,.0f} "
            f"| {statistics.median(r.wrk.p99_ms for r in mine):.2f} "
            f"| {1000 * statistics.median(r.switch_s for r in mine):.0f} "
            f"| {sum(router) if router else '-'} |"
        )
    kinds: dict[str, int] = {}
    for r in runs:
        for k, n in [*r.wrk.socket_errors.items(), ("non-2xx", r.wrk.non_2xx)]:
            kinds[f"{r.layout}: {k}"] = kinds.get(f"{r.layout}: {k}", 0) + n
    print(f"wrk failures by kind: {({k: n for k, n in kinds.items() if n}) or 'none'}")


if __name__ == "__main__":
    main()
