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
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from v11ops.router import NginxRouter, RouterClient, RouterUnavailable, RouteTable, Target

NGINX = Path("/usr/sbin/nginx")
WRK = Path("/usr/bin/wrk")

UPSTREAM_CONF = """\
{user}worker_processes 1;
daemon on;
pid {dir}/upstream.pid;
error_log {dir}/upstream-error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    keepalive_requests 1000000;
    client_body_temp_path {dir}/t1; proxy_temp_path {dir}/t2; fastcgi_temp_path {dir}/t3;
    uwsgi_temp_path {dir}/t4; scgi_temp_path {dir}/t5;
    server {{
        listen 127.0.0.1:{port};
        location / {{ return 200 "ok"; }}
    }}
}}
"""


@dataclass
class Result:
    name: str
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    errors: int
    cpu_us_per_request: float  # CPU (user+sys) of the process under test, per request


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.machine()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time consumed so far by `pids`."""
    ticks = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def nginx_workers(pid_file: Path) -> list[int]:
    """Worker pids of the nginx master whose pid is in `pid_file`."""
    master = int(pid_file.read_text())
    return [int(p) for p in Path(f"/proc/{master}/task/{master}/children").read_text().split()]


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


def _latency(text: str, pct: str) -> float:
    match = re.search(rf"{re.escape(pct)}\s+([\d.]+)(us|ms|s)\b", text)
    assert match, text
    value, unit = float(match.group(1)), match.group(2)
    return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value


def start_upstream(work: Path) -> tuple[int, Path]:
    port = free_port()
    conf = work / "upstream.conf"
    user = "user root;\n" if os.geteuid() == 0 else ""
    conf.write_text(UPSTREAM_CONF.format(user=user, dir=work, port=port))
    subprocess.run([str(NGINX), "-c", str(conf), "-p", str(work)], check=True)
    return port, work / "upstream.pid"


def start_builtin(work: Path, upstream: str) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    sock = work / "router.sock"
    command = [sys.executable, "-c", "from v11ops.cli.main import main; main()", "router", "run"]
    command += ["--listen", f"127.0.0.1:{port}", "--admin-socket", str(sock)]
    command += ["--state-file", str(work / "router-state.json"), "--target", f"blue={upstream}"]
    proc = subprocess.Popen(command)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            with RouterClient(sock, timeout_s=1) as client:
                client.health()
                return proc, port
        except RouterUnavailable:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit("builtin router did not start")


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


def machine() -> str:
    """CPU model and core count."""
    return f"{_cpu_model()}, {os.cpu_count()} cores"


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
