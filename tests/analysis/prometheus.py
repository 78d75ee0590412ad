"""Start and stop a real Prometheus (the Debian binary) on loopback for analysis tests.

It scrapes the given slots every second, each target labelled with its `slot` and `version` as
the monitoring stack labels them, so PromQL checks can select `slot="{{candidate.slot}}"`.
"""

from __future__ import annotations

import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import yaml

from tests.support.services import require_binary
from v11ops.runtime import free_port


@dataclass(frozen=True)
class ScrapeTarget:
    slot: str
    version: str
    url: str  # http://127.0.0.1:PORT


@dataclass
class PrometheusServer:
    port: int
    proc: subprocess.Popen[bytes]
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)

    def query(self, promql: str) -> list[dict[str, object]]:
        response = httpx.get(f"{self.url}/api/v1/query", params={"query": promql}, timeout=5)
        response.raise_for_status()
        return list(response.json()["data"]["result"])

    def wait_for(self, promql: str, timeout: float = 30.0) -> None:
        """Poll until `promql` returns a series (e.g. enough samples recorded)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.query(promql):
                return
            time.sleep(0.2)
        raise AssertionError(f"Prometheus never returned data for {promql}: {self.tail()}")

    def tail(self) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-10:])


def prometheus_config(targets: list[ScrapeTarget]) -> dict[str, object]:
    return {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "scrape_configs": [
            {
                "job_name": "slots",
                "metrics_path": "/q/metrics",
                "static_configs": [
                    {
                        "targets": [t.url.removeprefix("http://")],
                        "labels": {"slot": t.slot, "version": t.version},
                    }
                    for t in targets
                ],
            }
        ],
    }


def start_prometheus(folder: Path, targets: list[ScrapeTarget]) -> PrometheusServer:
    """Start Prometheus with its data in `folder`; returns once it is ready (or fails)."""
    binary = require_binary("prometheus")
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "prometheus.yml"
    config.write_text(yaml.safe_dump(prometheus_config(targets)))
    port = free_port()
    log_path = folder / "prometheus.log"
    proc = subprocess.Popen(
        [
            binary, f"--config.file={config}", f"--storage.tsdb.path={folder / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn",
        ],
        stdout=log_path.open("ab"), stderr=subprocess.STDOUT,
    )  # fmt: skip
    server = PrometheusServer(port, proc, log_path)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"prometheus exited with {proc.returncode}: {server.tail()}")
        try:
            if httpx.get(f"{server.url}/-/ready", timeout=1).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    server.stop()
    raise AssertionError(f"prometheus not ready after 30 s: {server.tail()}")
