"""What the router benchmarks share: the machine, free ports, CPU time from /proc, wrk and its
output, a trivial nginx upstream and a standalone builtin router."""

from __future__ import annotations

import os
import platform
import re
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from v11ops.router import RouterClient, RouterUnavailable
from v11ops.runtime import free_port

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


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.machine()


def machine() -> str:
    """CPU model and core count."""
    return f"{_cpu_model()}, {os.cpu_count()} cores"


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


def wrk_latency_ms(text: str, pct: str) -> float:
    """A percentile of wrk's `--latency` distribution, in milliseconds."""
    match = re.search(rf"{re.escape(pct)}\s+([\d.]+)(us|ms|s)\b", text)
    assert match, text
    value, unit = float(match.group(1)), match.group(2)
    return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value


@dataclass(frozen=True)
class WrkOutput:
    """What one wrk run reports: counts, rate, socket errors by kind, non-2xx, latency."""

    requests: int
    seconds: float
    socket_errors: dict[str, int]
    non_2xx: int
    p50_ms: float
    p99_ms: float

    @property
    def requests_per_s(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def failed(self) -> int:
        """Socket errors (connect, read, write, timeout) plus non-2xx/3xx responses."""
        return sum(self.socket_errors.values()) + self.non_2xx


def parse_wrk(text: str) -> WrkOutput:
    """Parse the summary wrk prints (run with `--latency`)."""
    done = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m)\b", text)
    assert done, text
    seconds = float(done.group(2)) * {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}[done.group(3)]
    errors = {k: int(n) for k, n in re.findall(r"(connect|read|write|timeout) (\d+)", text)}
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    return WrkOutput(
        requests=int(done.group(1)),
        seconds=seconds,
        socket_errors=errors,
        non_2xx=int(non2xx.group(1)) if non2xx else 0,
        p50_ms=wrk_latency_ms(text, "50%"),
        p99_ms=wrk_latency_ms(text, "99%"),
    )


def start_upstream(work: Path) -> tuple[int, Path]:
    """A trivial nginx upstream (`return 200 "ok"`, one worker); its port and pid file."""
    port = free_port()
    conf = work / "upstream.conf"
    user = "user root;\n" if os.geteuid() == 0 else ""
    conf.write_text(UPSTREAM_CONF.format(user=user, dir=work, port=port))
    subprocess.run([str(NGINX), "-c", str(conf), "-p", str(work)], check=True)
    return port, work / "upstream.pid"


def start_builtin(
    work: Path, upstream: str, extra: tuple[str, ...] = ()
) -> tuple[subprocess.Popen[bytes], int]:
    """`v11ops router run` with one target `blue` (and `extra` options, e.g. --tls-cert);
    admin socket at `work`/router.sock."""
    port = free_port()
    sock = work / "router.sock"
    command = [sys.executable, "-c", "from v11ops.cli.main import main; main()", "router", "run"]
    command += ["--listen", f"127.0.0.1:{port}", "--admin-socket", str(sock)]
    command += ["--state-file", str(work / "router-state.json"), "--target", f"blue={upstream}"]
    command += extra
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


def say(message: str) -> None:
    """A timestamped progress line on stderr (stdout carries the report)."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def wait_until(what: str, done: Callable[[], bool], timeout_s: float) -> float:
    """Poll `done` every 100 ms; the wall time it became true. Exits after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if done():
            return time.time()
        time.sleep(0.1)
    raise SystemExit(f"timed out waiting for {what} ({timeout_s:g}s)")


def event_at(detail: dict[str, Any], kind: str) -> float | None:
    """When the first event of `kind` happened in a deployment's `history --explain` detail."""
    return next((e["at"] for e in detail["events"] if e["kind"] == kind), None)


def fmt(value: float | None, digits: int = 2) -> str:
    """A figure for a report table; `-` when it was not measured."""
    return "-" if value is None else f"{value:,.{digits}f}"
