"""Canary analysis with the built-in templates: how fast an erroring canary is rolled back, how
often a good one is wrongly aborted, and whether a slow one is caught.

Not a test: run it by hand and copy the figures into docs/benchmarks.md.

    .venv/bin/python bench/canary.py [--runs 5] [--good 20] [--rate 200] [--quick] [--fast]
                                     [--json FILE] [--keep]

One stack (builtin router, controller, node slots) in a temporary folder, loopback only, from
`v11ops init`'s default config (its gates and hooks) with free ports, the canary steps below and
these releases: 1.0.0 and 1.1.0 (good), errors-5pct (V11_FAULT_ERROR_RATE 0.05) and the slow ones
of (3). The analysis templates are the built-in ones, unchanged (`--fast` redefines them with
shorter intervals for a quick look; its figures are not the defaults'). All along, an open-model
client sends GETs of /api/v11/info through the router at a fixed rate (a request leaves on
schedule whatever the answers do; at most --max-in-flight outstanding, the rest counted as shed)
and records each request's send time, latency, status and the version that answered it.

(1) `--runs` canaries of errors-5pct with steps [set_weight 10, analysis [error-rate],
    set_weight 100]: from the set_weight step (the router has the weights) to the decision to roll
    back and to all traffic back on the stable slot, from the journal's timestamps.
(2) `--good` canaries of a good release, alternating 1.0.0 and 1.1.0 so each is a real canary,
    with analysis [error-rate, latency-vs-baseline]: how many were wrongly aborted (target 0).
(3) The baseline p99 of /api/v11/info through the router (the client's requests in a
    `--baseline-s` window, stable release only) and straight at the live node (`--node-probes`
    sequential GETs, as the Mann-Whitney check probes). For each of the two: a release with
    V11_FAULT_LATENCY_MS = 2 x that p99, so its p99 is about 3x; `--runs` canaries of it with
    analysis [latency-vs-baseline], then `--latency-runs` with [latency]: whether and when each
    detected it. An undetected slow release is deployed over by a good one (blue-green).

Every wait has a deadline and every loop a count; `v11ops down` stops everything at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
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
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
import yaml

from _common import event_at, fmt, free_port, machine, say, wait_until
from v11ops.config import DEFAULT_CONFIG_YAML
from v11ops.config._analysis import builtin_templates
from v11ops.load.driver import new_event_loop

V11OPS = str(Path(sys.executable).with_name("v11ops"))
INFO = "/api/v11/info"
GOOD = ("1.1.0", "1.0.0")  # alternated by (2); the stack comes up on 1.0.0
ERRORS = "errors-5pct"
SLOW = "slow"
ERROR_RATE = "0.05"
CANARY_WEIGHT = 10
FAST_INTERVAL_S = {"error-rate": 3.0, "latency": 3.0, "latency-vs-baseline": 2.0}


# -- client traffic: an open-model loop ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Sample:
    sent: float  # wall clock, comparable with the journal's timestamps
    latency_s: float
    status: int  # 0: no answer (transport error or timeout)
    version: str | None


class OpenLoop:
    """GETs of one URL at a fixed rate, in a thread with its own event loop, for at most
    `max_s` seconds; a request due while `max_in_flight` are outstanding is shed, not delayed."""

    def __init__(self, url: str, rate: float, max_in_flight: int, max_s: float) -> None:
        self.url, self.rate, self.max_in_flight, self.max_s = url, rate, max_in_flight, max_s
        self.samples: list[Sample] = []
        self.scheduled = self.shed = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._main, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def between(self, start: float, end: float) -> list[Sample]:
        """Samples sent in [start, end)."""
        return [s for s in list(self.samples) if start <= s.sent < end]

    def _main(self) -> None:
        loop = new_event_loop()
        try:
            loop.run_until_complete(self._run())
        finally:
            loop.close()

    async def _run(self) -> None:
        limits = httpx.Limits(max_connections=self.max_in_flight)
        tasks: set[asyncio.Task[None]] = set()
        async with httpx.AsyncClient(timeout=5.0, limits=limits, trust_env=False) as client:
            start = time.perf_counter()
            while not self._stop.is_set() and time.perf_counter() - start < self.max_s:
                wait = start + self.scheduled / self.rate - time.perf_counter()
                await asyncio.sleep(max(wait, 0.0))  # also yields when running late
                self.scheduled += 1
                if len(tasks) >= self.max_in_flight:
                    self.shed += 1
                    continue
                task = asyncio.create_task(self._get(client))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
            if tasks:
                await asyncio.wait(set(tasks), timeout=10)

    async def _get(self, client: httpx.AsyncClient) -> None:
        sent, began = time.time(), time.perf_counter()
        try:
            response = await client.get(self.url)
        except httpx.HTTPError:
            self.samples.append(Sample(sent, time.perf_counter() - began, 0, None))
            return
        latency = time.perf_counter() - began
        version = None
        if response.status_code == 200:
            with contextlib.suppress(orjson.JSONDecodeError, KeyError, TypeError):
                version = str(orjson.loads(response.content)["version"])
        self.samples.append(Sample(sent, latency, response.status_code, version))


def p99_ms(samples: list[Sample]) -> float | None:
    """Nearest-rank p99 of the 2xx answers' latency."""
    ok = sorted(s.latency_s for s in samples if 200 <= s.status < 300)
    return ok[min(len(ok) - 1, max(0, round(0.99 * len(ok)) - 1))] * 1000 if ok else None


# -- the stack -------------------------------------------------------------------------------------


def canary_steps(templates: list[str]) -> list[dict[str, Any]]:
    return [
        {"set_weight": CANARY_WEIGHT},
        {"analysis": {"templates": templates}},
        {"set_weight": 100},
    ]


def fast_templates() -> dict[str, Any]:
    """The built-in templates with shorter intervals, under their own names (`--fast`)."""
    out = {}
    for name, template in builtin_templates().items():
        checks = [
            c.model_copy(update={"interval_s": FAST_INTERVAL_S[name]}) for c in template.checks
        ]
        out[name] = template.model_copy(update={"checks": checks}).model_dump(
            mode="json", exclude_defaults=True
        )
    return out


class Stack:
    """A stack in `root`; its config is rewritten before each phase (the controller reads it
    again on every deploy)."""

    def __init__(self, root: Path, fast: bool) -> None:
        root.mkdir(parents=True, exist_ok=True)
        self.root, self.fast = root, fast
        self.router_port = free_port()
        self.slow: dict[str, int] = {}  # release name -> V11_FAULT_LATENCY_MS

    @property
    def file(self) -> Path:
        return self.root / "v11ops.yaml"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.router_port}"

    def configure(self, templates: list[str]) -> None:
        """The default config, free ports, our releases, canary steps analysing `templates`."""
        config = yaml.safe_load(DEFAULT_CONFIG_YAML)
        config["state_dir"] = "state"
        config["slots"] = {"blue": {"port": "auto"}, "green": {"port": "auto"}}
        config["router"] |= {"listen": f"127.0.0.1:{self.router_port}", "metrics_listen": None}
        config["releases"] = {v: {} for v in sorted(GOOD)}
        config["releases"][ERRORS] = {"env": {"V11_FAULT_ERROR_RATE": ERROR_RATE}}
        for name, ms in self.slow.items():
            config["releases"][name] = {"env": {"V11_FAULT_LATENCY_MS": str(ms)}}
        config["strategy"]["canary"] = {"steps": canary_steps(templates), "scale_down_delay_s": 1}
        config["strategy"]["blue_green"]["scale_down_delay_s"] = 1  # back_to_good, not judged
        config["analysis"] = fast_templates() if self.fast else {}
        self.file.write_text(yaml.safe_dump(config, sort_keys=False))

    def cli(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [V11OPS, *args, "--file", str(self.file)],
            capture_output=True, text=True, timeout=timeout, cwd=self.root, check=False,
        )  # fmt: skip

    def deploy(self, version: str, strategy: str = "canary") -> dict[str, Any]:
        """`v11ops deploy --json`: the deployment's steps, events and verdicts (as
        `history --explain --json` shows them)."""
        result = self.cli("deploy", version, "--strategy", strategy, "--json")
        try:
            return dict(json.loads(result.stdout))
        except ValueError:
            raise SystemExit(f"v11ops deploy {version}: {result.stderr or result.stdout}") from None

    def slots(self) -> dict[str, dict[str, Any]]:
        result = self.cli("status", "--json", timeout=60)
        return dict(json.loads(result.stdout)["slots"]) if result.returncode == 0 else {}

    def live(self) -> dict[str, Any]:
        live = [s for s in self.slots().values() if s["role"] == "live"]
        return live[0] if live else {}

    def live_version(self) -> str:
        return str(self.live().get("version", ""))

    def settle(self) -> None:
        """Wait (bounded) until only the live slot runs: the previous one scaled down."""
        wait_until("the old slot's scale-down", lambda: all(
            s["role"] in ("live", "idle") or not s["alive"] for s in self.slots().values()
        ), 120)  # fmt: skip

    def up(self) -> None:
        result = self.cli("up", "--version", GOOD[1])
        if result.returncode != 0:
            raise SystemExit(f"v11ops up failed: {result.stdout}{result.stderr}")

    def down(self) -> None:
        result = self.cli("down", timeout=180)
        if result.returncode != 0:
            say(f"v11ops down failed ({result.stderr.strip()}); check {self.root}/state")


# -- one canary ------------------------------------------------------------------------------------


@dataclass
class Run:
    """One canary deploy: its outcome, the journal's timestamps and the traffic around it."""

    phase: str
    version: str
    templates: list[str]
    status: str
    reason: str | None
    weight_at: float | None  # the set_weight 10 step finished: the router has the weights
    decided_at: float | None  # the `rolling_back` event: the analysis decided
    back_at: float | None  # the switch_back step finished: all traffic on the stable slot
    analysis_s: float | None  # the analysis step, start to end
    canary_requests: int = 0  # client traffic the canary answered while it had 10 %
    canary_5xx: int = 0
    window_s: float = 0.0
    canary_p99_ms: float | None = None
    stable_p99_ms: float | None = None
    measurements: list[dict[str, Any]] = field(default_factory=list)

    @property
    def to_decision_s(self) -> float | None:
        return _span(self.weight_at, self.decided_at)

    @property
    def to_back_s(self) -> float | None:
        return _span(self.weight_at, self.back_at)


def _span(a: float | None, b: float | None) -> float | None:
    return b - a if a is not None and b is not None else None


def _step(detail: dict[str, Any], name: str, **match: Any) -> dict[str, Any] | None:
    return next(
        (s for s in detail["steps"] if s["name"] == name
         and all((s.get("detail") or {}).get(k) == v for k, v in match.items())),
        None,
    )  # fmt: skip


def measurements(detail: dict[str, Any]) -> list[dict[str, Any]]:
    """Every analysis measurement stored as a verdict: check, observed, expected, note."""
    return [
        {"gate": v["gate"], **ev}
        for v in detail["verdicts"] if v["gate"].startswith("analysis:")
        for ev in v["evidence"]
    ]  # fmt: skip


def one_canary(
    stack: Stack, traffic: OpenLoop, phase: str, version: str, templates: list[str]
) -> Run:
    stable = stack.live_version()
    detail = stack.deploy(version)
    weight = _step(detail, "set_weight", weight=CANARY_WEIGHT)
    analysis = _step(detail, "analysis")
    run = Run(
        phase=phase, version=version, templates=templates, status=detail["status"],
        reason=detail["reason"],
        weight_at=weight["finishedAt"] if weight else None,
        decided_at=event_at(detail, "rolling_back"),
        back_at=(_step(detail, "switch_back") or {}).get("finishedAt"),
        analysis_s=_span(analysis["startedAt"], analysis["finishedAt"]) if analysis else None,
        measurements=measurements(detail),
    )  # fmt: skip
    if run.weight_at is not None:
        end = run.back_at or (analysis or {}).get("finishedAt") or detail["finished_at"]
        seen = traffic.between(run.weight_at, end)
        answered = [s for s in seen if s.version == version]
        # A 5xx names no version; the stable releases here answer none, so it is the canary's.
        run.canary_5xx = sum(1 for s in seen if s.status >= 500)
        run.canary_requests = len(answered) + run.canary_5xx
        run.window_s = end - run.weight_at
        run.canary_p99_ms = p99_ms(answered)
        run.stable_p99_ms = p99_ms([s for s in seen if s.version == stable])
    say(f"({phase}) {_run_line(run)}")
    return run


def _run_line(r: Run) -> str:
    return (
        f"{r.version} [{', '.join(r.templates)}]: {r.status}; step → decision "
        f"{fmt(r.to_decision_s)}s, → traffic back {fmt(r.to_back_s)}s; canary "
        f"{r.canary_requests} requests ({r.canary_5xx} 5xx) in {r.window_s:.1f}s; p99 canary "
        f"{fmt(r.canary_p99_ms)} ms, stable {fmt(r.stable_p99_ms)} ms; {r.reason or ''}"
    )


def back_to_good(stack: Stack) -> None:
    """After a bad release went live: a good one over it (blue-green), then settle."""
    if stack.live_version() in GOOD:
        return
    detail = stack.deploy(GOOD[1], strategy="blue-green")
    say(f"  back to {GOOD[1]} (blue-green): {detail['status']}")
    stack.settle()


# -- the phases ------------------------------------------------------------------------------------


@dataclass
class Results:
    machine: str
    args: dict[str, str]
    errors: list[Run] = field(default_factory=list)
    good: list[Run] = field(default_factory=list)
    baseline_p99_ms: float | None = None
    baseline_requests: int = 0
    node_p99_ms: float | None = None
    slow_ms: dict[str, int] = field(default_factory=dict)  # by what the p99 tripled: router, node
    slow: list[Run] = field(default_factory=list)
    offered_rate: float = 0.0
    sent_rate: float = 0.0
    shed: int = 0
    load_average: list[float] = field(default_factory=list)
    took_s: float = 0.0


def run_errors(stack: Stack, traffic: OpenLoop, args: argparse.Namespace, res: Results) -> None:
    templates = ["error-rate"]
    stack.configure(templates)
    for _ in range(args.runs):
        res.errors.append(one_canary(stack, traffic, "1", ERRORS, templates))
        back_to_good(stack)
        stack.settle()


def run_good(stack: Stack, traffic: OpenLoop, args: argparse.Namespace, res: Results) -> None:
    templates = ["error-rate", "latency-vs-baseline"]
    stack.configure(templates)
    for _ in range(args.good):
        live = stack.live_version()
        version = GOOD[0] if live == GOOD[1] else GOOD[1]
        res.good.append(one_canary(stack, traffic, "2", version, templates))
        stack.settle()


def node_p99_ms(stack: Stack, probes: int) -> float | None:
    """p99 of `probes` sequential GETs straight to the live slot (no router), under the load."""
    url = f"http://127.0.0.1:{stack.live()['port']}{INFO}"
    samples = []
    with httpx.Client(timeout=5.0, trust_env=False) as client:
        for _ in range(probes):
            sent, began = time.time(), time.perf_counter()
            status = client.get(url).status_code
            samples.append(Sample(sent, time.perf_counter() - began, status, None))
    return p99_ms(samples)


def run_slow(stack: Stack, traffic: OpenLoop, args: argparse.Namespace, res: Results) -> None:
    began = time.time()
    time.sleep(args.baseline_s)
    baseline = [s for s in traffic.between(began, time.time()) if s.version in GOOD]
    res.baseline_p99_ms, res.baseline_requests = p99_ms(baseline), len(baseline)
    res.node_p99_ms = node_p99_ms(stack, args.node_probes)
    say(f"(3) baseline p99 {fmt(res.baseline_p99_ms)} ms, at the node {fmt(res.node_p99_ms)} ms")
    for basis, p99 in (("router", res.baseline_p99_ms), ("node", res.node_p99_ms)):
        if p99 is None:
            raise SystemExit(f"no answered requests to measure the {basis} p99 on")
        # A release is immutable once deployed: each delay is a release of its own.
        release = f"{SLOW}-{basis}"
        stack.slow[release] = res.slow_ms[basis] = max(1, round(2 * p99))  # p99 + 2 x p99
        say(f"(3-{basis}) {release}: V11_FAULT_LATENCY_MS={res.slow_ms[basis]}")
        for templates, runs in (
            (["latency-vs-baseline"], args.runs),
            (["latency"], args.latency_runs),
        ):
            stack.configure(templates)
            for _ in range(runs):
                res.slow.append(one_canary(stack, traffic, f"3-{basis}", release, templates))
                back_to_good(stack)
                stack.settle()


def run_all(work: Path, args: argparse.Namespace, res: Results) -> None:
    stack = Stack(work / "stack", args.fast)
    stack.configure(["error-rate"])
    traffic = OpenLoop(stack.url + INFO, args.rate, args.max_in_flight, max_s=args.max_minutes * 60)
    try:
        say("starting the stack (router, controller, 1.0.0)")
        stack.up()
        traffic.start()
        began = time.monotonic()
        time.sleep(3)  # the client's connections open before the first canary
        run_errors(stack, traffic, args, res)
        run_good(stack, traffic, args, res)
        run_slow(stack, traffic, args, res)
        res.offered_rate = args.rate
        res.sent_rate = (traffic.scheduled - traffic.shed) / (time.monotonic() - began)
        res.shed = traffic.shed
    finally:
        traffic.stop()
        say("v11ops down")
        stack.down()


class LoadWatch:
    """The 1-minute load average, every 10 s, for at most `max_s`."""

    def __init__(self, max_s: float) -> None:
        self.load: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(max_s,), daemon=True)
        self._thread.start()

    def stop(self) -> list[float]:
        self._stop.set()
        self._thread.join(timeout=15)
        return self.load

    def _run(self, max_s: float) -> None:
        deadline = time.monotonic() + max_s
        while not self._stop.is_set() and time.monotonic() < deadline:
            self.load.append(os.getloadavg()[0])
            self._stop.wait(10)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=5, help="(1) and (3) canaries each")
    parser.add_argument("--good", type=int, default=20, help="(2) good canaries")
    parser.add_argument("--latency-runs", type=int, default=2, help="(3) with [latency]")
    parser.add_argument("--rate", type=float, default=200.0, help="client requests/s")
    parser.add_argument("--max-in-flight", type=int, default=64)
    parser.add_argument("--baseline-s", type=float, default=30.0, help="(3) baseline p99 window")
    parser.add_argument("--node-probes", type=int, default=500, help="(3) GETs to the node")
    parser.add_argument("--max-minutes", type=float, default=120.0, help="hard stop of the load")
    parser.add_argument(
        "--quick", action="store_true", help="canaries: (1) 2, (2) 3, (3) 2 x (2 + 1)"
    )
    parser.add_argument(
        "--fast", action="store_true", help="shorter analysis intervals (NOT the defaults)"
    )
    parser.add_argument("--json", type=Path, help="also write every figure to this file")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (logs)")
    args = parser.parse_args()
    if args.quick:
        args.runs, args.good, args.latency_runs, args.baseline_s = 2, 3, 1, 10.0
        args.node_probes = 200
    return args


def main() -> None:
    args = parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the cleanups on SIGTERM too
    res = Results(machine(), {k: str(v) for k, v in vars(args).items()})
    work = Path(tempfile.mkdtemp(prefix="v11bench-canary-"))
    watch = LoadWatch(max_s=args.max_minutes * 60)
    began = time.monotonic()
    try:
        run_all(work, args, res)
    finally:
        res.load_average, res.took_s = watch.stop(), time.monotonic() - began
        if args.keep:
            say(f"work folder kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    if args.json:
        args.json.write_text(json.dumps(asdict(res), indent=2, default=str))
    report(res, args)


# -- the report ------------------------------------------------------------------------------------


def _stats(values: list[float | None]) -> str:
    present = [v for v in values if v is not None]
    if not present:
        return "-"
    return (
        f"median {statistics.median(present):.1f} s, min {min(present):.1f}, "
        f"max {max(present):.1f} ({len(present)} runs)"
    )


def report(res: Results, args: argparse.Namespace) -> None:
    load = res.load_average or [0.0]
    print(
        f"machine: {res.machine}; load average (1 min) {min(load):.2f} to {max(load):.2f}, "
        f"median {statistics.median(load):.2f}; run took {res.took_s / 60:.1f} min"
    )
    print(
        f"client: open model, {res.offered_rate:g} req/s offered of {INFO} through the router, "
        f"{res.sent_rate:.0f} req/s sent on average, {res.shed} shed (>= {args.max_in_flight} in "
        f"flight); analysis intervals: {'SHORTENED (--fast)' if args.fast else 'defaults'}"
    )
    print(f"\n(1) {ERRORS} (V11_FAULT_ERROR_RATE {ERROR_RATE}) at {CANARY_WEIGHT} %, [error-rate]")
    table(res.errors)
    print(f"set_weight → decision: {_stats([r.to_decision_s for r in res.errors])}")
    print(f"set_weight → all traffic back: {_stats([r.to_back_s for r in res.errors])}")
    print("\n(2) good canaries, [error-rate, latency-vs-baseline]")
    table(res.good)
    wrong = [r for r in res.good if r.status != "succeeded"]
    print(f"wrongly aborted: {len(wrong)} of {len(res.good)} (target 0)")
    for r in wrong:
        evidence(r)
    print(
        f"\n(3) baseline p99 of {INFO}: through the router {fmt(res.baseline_p99_ms)} ms "
        f"({res.baseline_requests} requests of the client), straight at the live node "
        f"{fmt(res.node_p99_ms)} ms ({args.node_probes} sequential GETs)"
    )
    for basis, ms in res.slow_ms.items():
        print(f"\n(3-{basis}) p99 {basis} x 3: V11_FAULT_LATENCY_MS {ms}")
        runs = [r for r in res.slow if r.phase == f"3-{basis}"]
        table(runs)
        for name in ("latency-vs-baseline", "latency"):
            mine = [r for r in runs if r.templates == [name]]
            caught = [r for r in mine if r.status == "rolled_back"]
            print(
                f"[{name}]: detected {len(caught)} of {len(mine)}; set_weight → decision: "
                f"{_stats([r.to_decision_s for r in caught])}"
            )
            for r in mine:
                if r.status != "rolled_back":
                    evidence(r)


def table(runs: list[Run]) -> None:
    print(
        "| # | release | outcome | set_weight → decision s | → traffic back s | analysis s "
        "| canary req/s | canary 5xx | p99 canary ms | p99 stable ms |"
    )
    print("|---:|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for i, r in enumerate(runs, 1):
        rate = r.canary_requests / r.window_s if r.window_s else None
        print(
            f"| {i} | {r.version} | {r.status} | {fmt(r.to_decision_s)} | {fmt(r.to_back_s)} "
            f"| {fmt(r.analysis_s)} | {fmt(rate, 1)} | {r.canary_5xx} | {fmt(r.canary_p99_ms)} "
            f"| {fmt(r.stable_p99_ms)} |"
        )


def evidence(r: Run) -> None:
    """The stored measurements of a canary whose outcome was wrong, as `history --explain`."""
    print(f"- {r.version} {r.status}: {r.reason}")
    for m in r.measurements:
        print(f"  - {m['gate']} {m['check']}: {m.get('note', '')}; observed {m['observed']}")


if __name__ == "__main__":
    main()
