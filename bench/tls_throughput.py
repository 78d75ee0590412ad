"""TLS termination: the builtin router against nginx, each over HTTPS and plain HTTP, same upstream.

Not a test: run it by hand and copy the figures into docs/benchmarks.md.

    .venv/bin/python bench/tls_throughput.py            # 5 s per case, 3 interleaved rounds
    .venv/bin/python bench/tls_throughput.py --quick    # 2 s per case, one round

The upstream is nginx answering `return 200 "ok"` (one worker), as in router_throughput.py. nginx
proxies with the settings of the config `NginxRouter` renders and the TLS settings of the site in
deploy/nginx (TLS 1.2 and 1.3, session cache); one worker with a plain and a TLS listener. The
builtin router is `v11ops router run`, one process for plain HTTP and one with --tls-cert. Both
serve the same self-signed P-256 certificate (`v11ops tls self-signed`). Two loads: keep-alive
connections (the cost of encryption) and a new connection per request (the cost of handshakes).
Every run is bounded by --duration; nothing here asserts anything.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from _common import (
    NGINX,
    WRK,
    cpu_seconds,
    machine,
    nginx_workers,
    parse_wrk,
    say,
    start_builtin,
    start_upstream,
    wait_until,
)
from v11ops.runtime import free_port
from v11ops.tls import write_self_signed

PROXY_CONF = """\
{user}worker_processes 1;
daemon on;
pid {dir}/proxy.pid;
error_log {dir}/proxy-error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {dir}/p1; proxy_temp_path {dir}/p2; fastcgi_temp_path {dir}/p3;
    uwsgi_temp_path {dir}/p4; scgi_temp_path {dir}/p5;
    upstream backend {{ server 127.0.0.1:{upstream}; keepalive 64; }}
    server {{
        listen 127.0.0.1:{plain};
        listen 127.0.0.1:{tls} ssl;
        ssl_certificate {cert};
        ssl_certificate_key {key};
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_prefer_server_ciphers off;
        ssl_session_cache shared:bench_tls:10m;
        ssl_session_timeout 1d;
        ssl_session_tickets off;
        location / {{
            proxy_pass http://backend;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header X-Forwarded-For $remote_addr;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_request_buffering off;
            proxy_buffering off;
        }}
    }}
}}
"""


@dataclass(frozen=True)
class Case:
    proxy: str
    scheme: str
    url: str
    pids: list[int]


@dataclass(frozen=True)
class Result:
    case: Case
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    errors: int
    cpu_us_per_request: float  # user + system CPU of the proxy under test, per request


def run_wrk(case: Case, seconds: int, connections: int, new_connections: bool) -> Result:
    """One wrk run against `case`; `new_connections` sends `Connection: close` on every request."""
    command = [str(WRK), "-t1", f"-c{connections}", f"-d{seconds}s", "--latency"]
    if new_connections:
        command += ["-H", "Connection: close"]
    before = cpu_seconds(case.pids)
    out = subprocess.run(
        [*command, case.url], capture_output=True, text=True, check=True, timeout=seconds + 30
    )
    cpu = cpu_seconds(case.pids) - before
    wrk = parse_wrk(out.stdout)
    # With Connection: close, wrk counts each reconnect as a read error: they are not failures.
    errors = wrk.non_2xx + (0 if new_connections else sum(wrk.socket_errors.values()))
    per_request = 1e6 * cpu / max(wrk.requests, 1)
    return Result(case, wrk.requests_per_s, wrk.p50_ms, wrk.p99_ms, errors, per_request)


def negotiated(url: str, cert: Path) -> str:
    """The protocol and cipher a default client (as wrk's OpenSSL) negotiates at `url`."""
    port = int(url.rsplit(":", 1)[1].strip("/"))
    context = ssl.create_default_context(cafile=str(cert))
    context.set_alpn_protocols(["http/1.1"])
    with (
        socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        cipher = tls.cipher()
        return (
            f"{tls.version()} {cipher[0] if cipher else '?'}, ALPN {tls.selected_alpn_protocol()}"
        )


def start_nginx_proxy(work: Path, upstream_port: int, cert: Path, key: Path) -> tuple[int, int]:
    """nginx with a plain and a TLS listener in front of the upstream; (plain, tls) ports."""
    plain, tls = free_port(), free_port()
    conf = work / "proxy.conf"
    user = "user root;\n" if os.geteuid() == 0 else ""
    conf.write_text(
        PROXY_CONF.format(
            user=user, dir=work, upstream=upstream_port, plain=plain, tls=tls, cert=cert, key=key
        )
    )
    subprocess.run([str(NGINX), "-c", str(conf), "-p", str(work)], check=True)
    return plain, tls


def measure(
    cases: list[Case], args: argparse.Namespace, connections: int, new_connections: bool
) -> list[Result]:
    """`args.rounds` interleaved rounds of every case; the median round of each case."""
    rounds: list[list[Result]] = []
    for i in range(args.rounds):
        say(f"round {i + 1}/{args.rounds}, {connections} connections")
        one = []
        for case in cases:
            if args.warmup:
                run_wrk(case, args.warmup, connections, new_connections)
            one.append(run_wrk(case, args.duration, connections, new_connections))
        rounds.append(one)
    medians = []
    for i in range(len(cases)):
        ordered = sorted((r[i] for r in rounds), key=lambda r: r.requests_per_s)
        medians.append(ordered[len(ordered) // 2])
    return medians


def report(title: str, results: list[Result]) -> None:
    """A markdown table; "vs plain" compares each proxy's HTTPS with its own plain HTTP."""
    print(f"\n{title}")
    columns = ["proxy", "scheme", "requests/s", "p50 ms", "p99 ms", "CPU µs/req"]
    print("| " + " | ".join([*columns, "vs its plain HTTP", "errors"]) + " |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    plain = {r.case.proxy: r.requests_per_s for r in results if r.case.scheme == "http"}
    for r in results:
        share = 100 * r.requests_per_s / plain[r.case.proxy] if plain.get(r.case.proxy) else 0
        print(
            f"| {r.case.proxy} | {r.case.scheme} | {r.requests_per_s:,.0f} | {r.p50_ms:.2f} "
            f"| {r.p99_ms:.2f} | {r.cpu_us_per_request:.1f} | {share:.0f} % | {r.errors} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=5, help="seconds per wrk run")
    parser.add_argument("--warmup", type=int, default=1, help="seconds of wrk before each run")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds; median")
    parser.add_argument("--connections", type=int, default=50, help="keep-alive connections")
    parser.add_argument(
        "--new-connection-clients", type=int, default=10, help="clients reconnecting per request"
    )
    parser.add_argument("--quick", action="store_true", help="2 s per case, one round")
    args = parser.parse_args()
    if args.quick:
        args.duration, args.warmup, args.rounds = 2, 1, 1
    for binary in (NGINX, WRK):
        if not binary.exists():
            raise SystemExit(f"{binary} is missing: apt-get install nginx wrk")

    work = Path(tempfile.mkdtemp(prefix="v11tls-"))
    with contextlib.ExitStack() as cleanup:
        cleanup.callback(shutil.rmtree, work, ignore_errors=True)
        made = write_self_signed(work / "cert.pem", work / "key.pem")
        upstream_port, upstream_pid = start_upstream(work)
        cleanup.callback(lambda: os.kill(int(upstream_pid.read_text()), signal.SIGQUIT))
        upstream = f"http://127.0.0.1:{upstream_port}"
        plain_port, tls_port = start_nginx_proxy(work, upstream_port, made.cert, made.key)
        cleanup.callback(lambda: os.kill(int((work / "proxy.pid").read_text()), signal.SIGQUIT))
        wait_until("nginx workers", lambda: bool(nginx_workers(work / "proxy.pid")), 10)
        nginx = nginx_workers(work / "proxy.pid")
        tls_args = ("--tls-cert", str(made.cert), "--tls-key", str(made.key))
        cases = [
            Case("nginx", "http", f"http://127.0.0.1:{plain_port}/", nginx),
            Case("nginx", "https", f"https://127.0.0.1:{tls_port}/", nginx),
        ]
        for scheme, extra in (("http", ()), ("https", tls_args)):
            folder = work / f"builtin-{scheme}"
            folder.mkdir()
            proc, port = start_builtin(folder, upstream, extra)
            cleanup.callback(proc.wait, 30)
            cleanup.callback(proc.send_signal, signal.SIGTERM)
            cases.append(
                Case("builtin router", scheme, f"{scheme}://127.0.0.1:{port}/", [proc.pid])
            )
        for case in cases:
            if case.scheme == "https":
                say(f"{case.proxy}: {negotiated(case.url, made.cert)}")
        load_before = os.getloadavg()[0]
        keep_alive = measure(cases, args, args.connections, new_connections=False)
        handshakes = measure(cases, args, args.new_connection_clients, new_connections=True)
    print(
        f"machine: {machine()}; load average {load_before:.2f} before, "
        f"{os.getloadavg()[0]:.2f} after; {args.duration} s per case, median of {args.rounds}"
    )
    report(f"Keep-alive, wrk -t1 -c{args.connections}", keep_alive)
    report(
        f"A new connection per request, wrk -t1 -c{args.new_connection_clients} "
        "-H 'Connection: close'",
        handshakes,
    )


if __name__ == "__main__":
    main()
