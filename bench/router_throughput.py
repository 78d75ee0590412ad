"""Router throughput: wrk straight to a trivial upstream, through nginx, through the builtin router.

Not a test: run it by hand and copy the figures into docs/benchmarks.md.

    .venv/bin/python bench/router_throughput.py --duration 10 --connections 50

The upstream is nginx answering `return 200 "ok"` with one worker (the fairest trivial upstream:
it costs the same in all three runs). The nginx proxy is the config v11ops's `NginxRouter`
renders (one worker, keep-alive upstream pool); the builtin router is `v11ops router run` in one
process. Every run is bounded by --duration; nothing here asserts anything.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from _common import (
    NGINX,
    WRK,
    cpu_seconds,
    free_port,
    machine,
    nginx_workers,
    start_builtin,
    start_upstream,
)
from _common import wrk_latency_ms as _latency
from v11ops.router import NginxRouter, RouteTable, Target


@dataclass
class Result:
    name: str
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    errors: int
    cpu_us_per_request: float  # CPU (user+sys) of the process under test, per request


def run_wrk(name: str, url: str, duration: int, connections: int, pids: list[int]) -> Result:
    cmd = [str(WRK), "-t1", f"-c{connections}", f"-d{duration}s", "--latency", url]
    cpu_before = cpu_seconds(pids)
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=duration + 30)
    cpu = cpu_seconds(pids) - cpu_before
    text = out.stdout
    done = int(re.search(r"(\d+) requests in", text).group(1))  # type: ignore[union-attr]
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))  # type: ignore[union-attr]
    errors = sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", text))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    errors += int(non2xx.group(1)) if non2xx else 0
    p50, p99 = _latency(text, "50%"), _latency(text, "99%")
    return Result(name, rps, p50, p99, errors, 1e6 * cpu / max(done, 1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--connections", type=int, default=50, help="for the throughput runs")
    parser.add_argument(
        "--latency-connections", type=int, default=1, help="for the added-latency runs"
    )
    parser.add_argument("--warmup", type=int, default=2, help="seconds of wrk before each run")
    parser.add_argument(
        "--rounds", type=int, default=3, help="rounds of the three runs (interleaved); median"
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args()
    for binary in (NGINX, WRK):
        if not binary.exists():
            raise SystemExit(f"{binary} is missing: apt-get install nginx wrk")

    work = Path(tempfile.mkdtemp(prefix="v11bench-"))
    with contextlib.ExitStack() as cleanup:
        cleanup.callback(shutil.rmtree, work, ignore_errors=True)
        upstream_port, upstream_pid = start_upstream(work)
        cleanup.callback(lambda: os.kill(int(upstream_pid.read_text()), signal.SIGQUIT))
        upstream = f"http://127.0.0.1:{upstream_port}"
        nginx = NginxRouter.own(work / "nginx-router", ("127.0.0.1", free_port()))
        nginx.start()
        cleanup.callback(nginx.stop)
        nginx_pid = nginx.layout.pid_file
        nginx.set_routes(RouteTable((Target("blue", upstream),)))
        builtin, builtin_port = start_builtin(work, upstream)
        cleanup.callback(builtin.wait, 30)
        cleanup.callback(builtin.send_signal, signal.SIGTERM)
        runs = [
            ("direct (baseline)", f"{upstream}/", nginx_workers(upstream_pid)),
            ("nginx proxy", f"http://127.0.0.1:{nginx.listen[1]}/", nginx_workers(nginx_pid)),
            ("builtin router", f"http://127.0.0.1:{builtin_port}/", [builtin.pid]),
        ]
        load_before = os.getloadavg()[0]
        throughput = measure(runs, args, args.connections)
        latency = measure(runs, args, args.latency_connections)
    load = (load_before, os.getloadavg()[0])
    if args.json:
        data = {"machine": machine(), "load_average": load}
        data["throughput"] = [[asdict(r) for r in one] for one in throughput]
        data["latency"] = [[asdict(r) for r in one] for one in latency]
        print(json.dumps(data, indent=2))
        return
    print(f"machine: {machine()}; load average {load[0]:.2f} before, {load[1]:.2f} after")
    report("Throughput", throughput, args, args.connections)
    report("Latency without queueing", latency, args, args.latency_connections)


def measure(
    runs: list[tuple[str, str, list[int]]], args: argparse.Namespace, conns: int
) -> list[list[Result]]:
    """`args.rounds` rounds of the runs in turn (interleaved, so drift hits all alike)."""
    rounds = []
    for _ in range(args.rounds):
        one = []
        for name, url, pids in runs:
            if args.warmup:
                run_wrk(name, url, args.warmup, conns, pids)
            one.append(run_wrk(name, url, args.duration, conns, pids))
        rounds.append(one)
    return rounds


def median_result(results: list[Result]) -> Result:
    """The run with the median requests/s (its latencies come with it)."""
    ordered = sorted(results, key=lambda r: r.requests_per_s)
    return ordered[len(ordered) // 2]


def report(title: str, rounds: list[list[Result]], args: argparse.Namespace, conns: int) -> None:
    """A markdown table of the medians, with the raw rounds above it."""
    results = [median_result([r[i] for r in rounds]) for i in range(len(rounds[0]))]
    print(f"\n{title}: wrk -t1 -c{conns} -d{args.duration}s --latency, median of {args.rounds}")
    for i, one in enumerate(rounds, 1):
        print(f"round {i}: " + ", ".join(f"{r.name} {r.requests_per_s:,.0f}/s" for r in one))
    base, nginx_rps = results[0], results[1].requests_per_s
    columns = ["path", "requests/s", "p50 ms", "p99 ms", "added p50 ms", "added p99 ms"]
    print("| " + " | ".join([*columns, "vs nginx", "CPU µs/req", "errors"]) + " |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        print(
            f"| {r.name} | {r.requests_per_s:,.0f} | {r.p50_ms:.2f} | {r.p99_ms:.2f} "
            f"| {r.p50_ms - base.p50_ms:+.2f} | {r.p99_ms - base.p99_ms:+.2f} "
            f"| {100 * r.requests_per_s / nginx_rps:.0f} % | {r.cpu_us_per_request:.1f} "
            f"| {r.errors} |"
        )


if __name__ == "__main__":
    main()
