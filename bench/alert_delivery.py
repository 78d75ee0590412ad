"""Alert delivery latency: from a fault (the node killed) to the page at the webhook.

A real node, Prometheus and Alertmanager on loopback, with the repository's rules and routing
rendered with fast settings (scrape and evaluation every second, every `for` 1 s, the paging
route's group_wait 0 s, group_interval 1 s). Each trial kills the node with SIGKILL, times the
V11ServiceDown page at a local webhook, restarts the node and times the resolved notification
from the moment it answers scrapes again. The same pipeline at production settings is computed
from the measured overhead plus its waits (scrape, evaluation, `for`, group_wait, group_interval).

    .venv/bin/python bench/alert_delivery.py [--trials 10] [--json bench-alerts.json]

Needs the Debian packages prometheus and prometheus-alertmanager. Everything runs in a
temporary folder and is stopped at the end, also on failure.
"""

from __future__ import annotations

import argparse
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
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import yaml

from v11ops.monitoring.rules import RuleParams, load_slo_spec, render_rule_files, write_rule_files
from v11ops.monitoring.rules.routing import (
    AlertmanagerParams,
    Chat,
    Timing,
    Webhook,
    render_alertmanager_config,
)
from v11ops.runtime import free_port

ROOT = Path(__file__).resolve().parents[1]
FAST = Timing(group_wait="0s", group_interval="1s", repeat_interval="1h")
NODE_JOB = RuleParams().node_job
FAST_SETTINGS = {"scrape_s": 1, "evaluation_s": 1, "for_s": 1, "group_wait_s": 0}


class Pages:
    """A webhook receiver that notes when each V11ServiceDown notification arrives."""

    def __init__(self) -> None:
        self.events: list[tuple[float, str]] = []  # (unix time, "firing" | "resolved")
        self.cond = threading.Condition()
        pages = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                now = time.time()
                with pages.cond:
                    for alert in body["alerts"]:
                        if alert["labels"]["alertname"] == "V11ServiceDown":
                            pages.events.append((now, alert["status"]))
                    pages.cond.notify_all()
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait(self, status: str, after: float, timeout: float = 60.0) -> float:
        """Arrival (unix time) of the first `status` notification after `after` (unix time)."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for at, seen in self.events:
                    if seen == status and at > after:
                        return at
                if not self.cond.wait(deadline - time.monotonic()):
                    raise TimeoutError(f"no {status} V11ServiceDown in {timeout}s")


def _wait_http(url: str, proc: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args!r} exited with {proc.returncode}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=1.0).status_code == 200:
                return
        time.sleep(0.02)
    raise TimeoutError(f"{url} not ready in {timeout}s")


@contextlib.contextmanager
def _process(args: list[str], log: Path, ready_url: str) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("ab") as out:
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT)
    try:
        _wait_http(ready_url, proc)
        yield proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


class Node:
    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.args = [
            sys.executable, "-m", "v11ops.cli.main", "node", "run", "--port", str(self.port),
            "--db", f"sqlite:///{workdir / 'ledger.db'}", "--node-id", "bench",
            "--data-dir", str(workdir / "node"),
        ]  # fmt: skip
        self.log = workdir / "node.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> float:
        """Start it and wait until ready; returns when it was spawned (unix time)."""
        spawned = time.time()
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(self.args, stdout=out, stderr=subprocess.STDOUT)
        _wait_http(f"http://127.0.0.1:{self.port}/q/health/ready", self.proc)
        return spawned

    def kill(self) -> float:
        assert self.proc is not None
        now = time.time()
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        return now

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=30)


def _configs(workdir: Path, pages_url: str, am_port: int, node_port: int) -> None:
    rules = RuleParams(for_override="1s", disabled_alerts=("LowTransactionVolume",))
    write_rule_files(
        workdir / "rules",
        render_rule_files(rules, load_slo_spec(ROOT / "monitoring/prometheus/slo.yaml")),
    )
    hook = Webhook(url=f"{pages_url}/pager", timing=FAST)
    am = AlertmanagerParams(
        pager=hook, chat=Chat(api_url=f"{pages_url}/chat", timing=FAST),
        deadmans_switch=hook.model_copy(update={"url": f"{pages_url}/deadmans-switch"}),
        default=hook.model_copy(update={"url": f"{pages_url}/default"}),
    )  # fmt: skip
    (workdir / "alertmanager.yml").write_text(render_alertmanager_config(am))
    shutil.copytree(ROOT / "monitoring/alertmanager/templates", workdir / "templates")
    prometheus = {
        "global": {"scrape_interval": "1s", "scrape_timeout": "900ms", "evaluation_interval": "1s"},
        "rule_files": [str(workdir / "rules" / "*.yml")],
        "alerting": {
            "alertmanagers": [{"static_configs": [{"targets": [f"127.0.0.1:{am_port}"]}]}]
        },
        "scrape_configs": [
            {
                "job_name": NODE_JOB,
                "metrics_path": "/q/metrics",
                "static_configs": [{"targets": [f"127.0.0.1:{node_port}"]}],
            }
        ],
    }
    (workdir / "prometheus.yml").write_text(yaml.safe_dump(prometheus))


def first_scrape(prom_url: str, instance: str, value: str, after: float) -> float:
    """Time of the first scrape of `instance` after `after` whose `up` was `value` (0 or 1),
    from Prometheus's own samples: a sample's timestamp is when its scrape started."""
    query = f'up{{instance="{instance}"}}[5m]'
    body = httpx.get(f"{prom_url}/api/v1/query", params={"query": query}, timeout=10).json()
    samples = body["data"]["result"][0]["values"]
    return next(float(ts) for ts, v in samples if float(ts) > after and v == value)


def _summary(values: list[float]) -> dict[str, float]:
    return {
        "mean": round(statistics.fmean(values), 2),
        "median": round(statistics.median(values), 2),
        "min": round(min(values), 2),
        "max": round(max(values), 2),
    }


def production_estimate(overhead_s: float) -> dict[str, Any]:
    """Fault-to-page and good-scrape-to-resolved at the production settings: `v11ops monitor up`'s
    15 s scrape and evaluation intervals, V11ServiceDown's `for: 1m`, the paging route's
    group_wait 10 s and group_interval 1 m, plus the pipeline's own overhead measured here."""
    scrape, evaluation, for_s = 15.0, 15.0, 60.0
    pager = AlertmanagerParams().pager.timing
    group_wait = _seconds(pager.group_wait)
    group_interval = _seconds(pager.group_interval)
    fire = {
        "best": for_s + group_wait + overhead_s,
        "mean": scrape / 2 + evaluation / 2 + for_s + group_wait + overhead_s,
        "worst": scrape + evaluation + for_s + group_wait + overhead_s,
    }
    # From the first good scrape: the next evaluation, then the group's next flush.
    resolve = {
        "best": overhead_s,
        "mean": evaluation / 2 + group_interval / 2 + overhead_s,
        "worst": evaluation + group_interval + overhead_s,
    }
    return {
        "settings": {
            "scrape_interval_s": scrape, "evaluation_interval_s": evaluation, "for_s": for_s,
            "group_wait_s": group_wait, "group_interval_s": group_interval,
        },
        "fault_to_page_s": {k: round(v, 1) for k, v in fire.items()},
        "good_scrape_to_resolved_s": {k: round(v, 1) for k, v in resolve.items()},
    }  # fmt: skip


def _seconds(duration: str) -> float:
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    number = duration.rstrip("smh")
    return float(number) * units[duration[len(number) :]]


def run(trials: int) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="v11-alert-bench-"))
    pages = Pages()
    am_port, prom_port = free_port(), free_port()
    node = Node(workdir)
    _configs(workdir, pages.url, am_port, node.port)
    alertmanager = [
        "prometheus-alertmanager", f"--config.file={workdir / 'alertmanager.yml'}",
        f"--storage.path={workdir / 'am'}", f"--web.listen-address=127.0.0.1:{am_port}",
        "--cluster.listen-address=",
    ]  # fmt: skip
    prometheus = [
        "prometheus", f"--config.file={workdir / 'prometheus.yml'}",
        f"--storage.tsdb.path={workdir / 'tsdb'}", f"--web.listen-address=127.0.0.1:{prom_port}",
    ]  # fmt: skip
    phases: dict[str, list[float]] = {
        "fault_to_failed_scrape": [], "failed_scrape_to_page": [], "fault_to_page": [],
        "good_scrape_to_resolved": [],
    }  # fmt: skip
    prom_url, instance = f"http://127.0.0.1:{prom_port}", f"127.0.0.1:{node.port}"
    try:
        node.start()
        with (
            _process(alertmanager, workdir / "am.log", f"http://127.0.0.1:{am_port}/-/ready"),
            _process(prometheus, workdir / "prom.log", f"{prom_url}/-/ready"),
        ):
            time.sleep(3)  # a few scrapes of the healthy node first
            for i in range(trials):
                killed = node.kill()
                paged = pages.wait("firing", killed)
                failed = first_scrape(prom_url, instance, "0", killed)
                spawned = node.start()
                resolved = pages.wait("resolved", spawned)
                back = first_scrape(prom_url, instance, "1", spawned)
                for name, value in (
                    ("fault_to_failed_scrape", failed - killed),
                    ("failed_scrape_to_page", paged - failed),
                    ("fault_to_page", paged - killed),
                    ("good_scrape_to_resolved", resolved - back),
                ):
                    phases[name].append(value)
                print(f"trial {i + 1}: paged {paged - killed:.2f} s after the kill (first failed "
                      f"scrape after {failed - killed:.2f} s); resolved {resolved - back:.2f} s "
                      "after the first good scrape", flush=True)  # fmt: skip
                time.sleep(2)
    finally:
        node.stop()
        pages.server.shutdown()
        shutil.rmtree(workdir, ignore_errors=True)
    # At 1 s intervals, from the failed scrape the rule sees it at the next evaluation (U(0,1) s)
    # and fires one `for` (1 s) later; what the measured mean adds beyond that is overhead.
    overhead = max(statistics.fmean(phases["failed_scrape_to_page"]) - 1.5, 0.0)
    return {
        "machine": f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}",
        "fast_settings": FAST_SETTINGS,
        "trials": trials,
        **{f"{name}_s": _summary(values) for name, values in phases.items()},
        "overhead_s": round(overhead, 2),
        "production": production_estimate(overhead),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    # A plain SIGTERM would skip the `finally` blocks that stop the processes.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    for binary in ("prometheus", "prometheus-alertmanager"):
        if shutil.which(binary) is None:
            sys.exit(f"{binary} is missing: apt-get install prometheus prometheus-alertmanager")
    result = run(args.trials)
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
