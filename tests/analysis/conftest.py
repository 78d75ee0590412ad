"""Real nodes for the analysis tests, started once for this folder (package scope).

- blue: the stable release; green: a good candidate; red: a candidate whose API answers half of
  its requests with 500 (V11_FAULT_ERROR_RATE); slow: a candidate that adds 50 ms to every API
  request (V11_FAULT_LATENCY_MS), several times the stable's latency even on a loaded machine.
- `steady_traffic`: a process sending about 15 requests/s to each node, so scrapes and
  Prometheus have something to measure.
- `prometheus`: a real Prometheus scraping the four every second, labelled slot and version.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.analysis.prometheus import PrometheusServer, ScrapeTarget, start_prometheus
from tests.support.nodeproc import NodeProcess
from v11ops.analysis import SlotRef
from v11ops.runtime import free_port

NODES = {
    "blue": ("1.0.0", {}),
    "green": ("1.1.0", {}),
    "red": ("1.2.0", {"V11_FAULT_ERROR_RATE": "0.5"}),
    "slow": ("1.3.0", {"V11_FAULT_LATENCY_MS": "50"}),
}


@pytest.fixture(scope="package")
def work_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="v11an-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="package")
def nodes(work_dir: Path) -> Iterator[dict[str, SlotRef]]:
    started: list[NodeProcess] = []
    try:
        for slot, (version, env) in NODES.items():
            node = NodeProcess(
                port=free_port(),
                db=f"sqlite:///{work_dir / slot}.db",
                node_id=slot,
                log_path=work_dir / f"{slot}.log",
                extra_args=["--release", version, "--data-dir", str(work_dir / slot)],
                env=env,
            )
            started.append(node.start())
        for node in started:
            node.wait_ready(timeout=90)  # a loaded 2-core machine starts four slowly
        yield {n.node_id: SlotRef(n.node_id, NODES[n.node_id][0], n.url) for n in started}
    finally:
        for node in started:
            node.terminate(timeout=15)


# A process of its own, so its requests never hold the GIL while a test times its probes.
_TRAFFIC = """
import sys, time, httpx
with httpx.Client(timeout=5) as client:
    while True:
        for url in sys.argv[1:]:
            try:
                client.get(url)
            except httpx.HTTPError:
                pass
        time.sleep(0.066)
"""


@pytest.fixture(scope="package")
def steady_traffic(nodes: dict[str, SlotRef]) -> Iterator[None]:
    urls = [f"{slot.base_url}/api/v11/info" for slot in nodes.values()]
    proc = subprocess.Popen([sys.executable, "-c", _TRAFFIC, *urls])
    try:
        yield
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture(scope="package")
def prometheus(
    work_dir: Path, nodes: dict[str, SlotRef], steady_traffic: None
) -> Iterator[PrometheusServer]:
    targets = [ScrapeTarget(s.name, s.version, s.base_url) for s in nodes.values()]
    server = start_prometheus(work_dir / "prometheus", targets)
    try:
        # Rates over [5s] need a few scrapes of every slot first.
        server.wait_for('count(count_over_time(up{job="slots"}[10s]) >= 4) == 4')
        yield server
    finally:
        server.stop()
