"""Backup metrics in the textfile-collector format, served by a real node-exporter."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.backup.conftest import cli
from tests.support.services import require_binary
from v11ops.backup import metrics
from v11ops.runtime import free_port


def _samples(text: str) -> dict[str, float]:
    return {
        s.name + ("" if "status" not in s.labels else f"{{{s.labels['status']}}}"): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_commands_write_the_metrics_and_node_exporter_serves_them(
    sqlite_url: str, tmp_path: Path, key_file: Path
) -> None:
    textfile = tmp_path / "textfile"
    args = [
        "--repo",
        str(tmp_path / "repo"),
        "--key-file",
        str(key_file),
        "--metrics-dir",
        str(textfile),
    ]
    before = time.time()
    created = cli("backup", "create", "--db", sqlite_url, *args, "--json")
    assert created.exit_code == 0, created.output
    size = json.loads(created.stdout)["size_bytes"]
    [prom] = list(textfile.glob("*.prom"))
    first = _samples(prom.read_text())
    assert first[metrics.LAST_SUCCESS] >= before - 1 and first[metrics.SIZE] == size
    assert first[metrics.LAST_VERIFIED] == 0 and first[metrics.DRILL_LAST_SUCCESS] == 0
    assert metrics.DRILL_DURATION not in first
    assert first[metrics.COUNT + "{complete}"] == 1

    assert cli("backup", "drill", *args).exit_code == 0
    after = _samples(prom.read_text())
    assert after[metrics.DRILL_DURATION] > 0
    assert after[metrics.LAST_VERIFIED] >= before and after[metrics.DRILL_LAST_SUCCESS] >= before

    exporter = require_binary("prometheus-node-exporter")
    port = free_port()
    proc = subprocess.Popen(
        [
            exporter,
            f"--web.listen-address=127.0.0.1:{port}",
            "--collector.disable-defaults",
            "--collector.textfile",
            f"--collector.textfile.directory={textfile}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                scraped = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2).text
                break
            except httpx.HTTPError:
                assert time.monotonic() < deadline, "node-exporter did not start"
                time.sleep(0.1)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    served = _samples(scraped)
    assert served[metrics.DRILL_DURATION] == after[metrics.DRILL_DURATION]
    assert served[metrics.LAST_SUCCESS] == after[metrics.LAST_SUCCESS]
    assert served.get("node_textfile_scrape_error") == 0
