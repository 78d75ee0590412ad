"""Start and stop a real Prometheus and node-exporter (the Debian binaries) on loopback."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import yaml

from tests.support.services import require_binary
from v11ops.runtime import free_port

REPO = Path(__file__).resolve().parents[3]
PRODUCTION_CONFIG = REPO / "monitoring" / "prometheus" / "prometheus.yml"


@contextmanager
def process(args: list[str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A process with its output in `log`; SIGTERM (then SIGKILL) when the block ends."""
    with log.open("ab") as out:
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)


def wait_until(
    check: Callable[[], bool], what: str, proc: subprocess.Popen[bytes], timeout: float = 30.0
) -> None:
    """Poll `check` until it holds; fail early if `proc` exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"{what}: the process exited with {proc.returncode}")
        try:
            if check():
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{what}: not after {timeout} s")


def http_ok(url: str) -> Callable[[], bool]:
    return lambda: httpx.get(url, timeout=2.0).status_code == 200


@contextmanager
def node_exporter(tmp: Path) -> Iterator[str]:
    """node-exporter with only the collectors the dashboards read; yields host:port."""
    address = f"127.0.0.1:{free_port()}"
    args = [
        require_binary("prometheus-node-exporter"),
        f"--web.listen-address={address}",
        "--collector.disable-defaults",
        *(f"--collector.{c}" for c in ("cpu", "meminfo", "filesystem", "netdev", "loadavg")),
        "--collector.uname",
    ]
    with process(args, tmp / "node-exporter.log") as proc:
        wait_until(http_ok(f"http://{address}/metrics"), "node-exporter", proc)
        yield address


def scrape_config(targets: dict[str, str]) -> dict[str, Any]:
    """The production scrape config with each job's targets replaced by `targets` (job ->
    host:port) and 1 s intervals; jobs without a test target, rules and alerting left out."""
    config = yaml.safe_load(PRODUCTION_CONFIG.read_text())
    jobs = []
    for job in config["scrape_configs"]:
        if job["job_name"] in targets:
            kept = {k: v for k, v in job.items() if k not in ("static_configs", "file_sd_configs")}
            jobs.append({**kept, "static_configs": [{"targets": [targets[job["job_name"]]]}]})
    missing = set(targets) - {j["job_name"] for j in jobs}
    assert not missing, f"no such job in {PRODUCTION_CONFIG}: {sorted(missing)}"
    interval = {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"}
    return {"global": interval, "scrape_configs": jobs}


class Prometheus:
    def __init__(self, url: str) -> None:
        self.url = url

    def query_range(self, expr: str, start: float, end: float) -> list[dict[str, Any]]:
        response = httpx.post(
            f"{self.url}/api/v1/query_range",
            data={"query": expr, "start": start, "end": end, "step": "1"},
            timeout=10.0,
        )
        body = response.json()
        assert body.get("status") == "success", f"{expr}: {body.get('error', body)}"
        result: list[dict[str, Any]] = body["data"]["result"]
        return result

    def label_values(self, selector: str, label: str) -> list[str]:
        response = httpx.get(
            f"{self.url}/api/v1/label/{label}/values", params={"match[]": selector}, timeout=10.0
        )
        values: list[str] = response.json()["data"]
        return values

    def last_scrape(self, job: str) -> float:
        """Time of the job's last scrape (0 before the first)."""
        body = httpx.get(
            f"{self.url}/api/v1/query", params={"query": f'timestamp(up{{job="{job}"}})'}
        ).json()
        return min((float(r["value"][1]) for r in body["data"]["result"]), default=0.0)


@contextmanager
def prometheus(tmp: Path, targets: dict[str, str]) -> Iterator[Prometheus]:
    """Prometheus scraping `targets` every second, with its data in `tmp`."""
    config = tmp / "prometheus.yml"
    config.write_text(yaml.safe_dump(scrape_config(targets)))
    address = f"127.0.0.1:{free_port()}"
    args = [
        require_binary("prometheus"),
        f"--config.file={config}",
        f"--storage.tsdb.path={tmp / 'prometheus-data'}",
        f"--web.listen-address={address}",
        "--log.level=warn",
    ]
    with process(args, tmp / "prometheus.log") as proc:
        wait_until(http_ok(f"http://{address}/-/ready"), "prometheus", proc)
        yield Prometheus(f"http://{address}")
