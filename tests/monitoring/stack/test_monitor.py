"""`v11ops monitor up|down|status` and `v11ops alerts` with the real Debian binaries."""

from __future__ import annotations

import json
import os
import socket
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from tests.monitoring.stack.support import (
    minimal_config,
    monitoring_yaml,
    require_stack_binaries,
    wait_for,
)
from tests.support.nodeproc import V11OPS
from v11ops.config import load_config
from v11ops.monitoring import stack
from v11ops.runtime._procfs import read_stat

pytestmark = pytest.mark.slow


def v11ops(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run([V11OPS, *args, "--file", str(config)], capture_output=True, text=True,
                          timeout=90, env=env)  # fmt: skip


@pytest.fixture
def config_path(tmp_path: Path) -> Iterator[Path]:
    require_stack_binaries()
    path = minimal_config(tmp_path, monitoring_yaml())
    try:
        yield path
    finally:
        stack.down(load_config(path))


def running(path: Path) -> dict[str, bool]:
    return {s.name: s.running for s in stack.status(load_config(path))}


def test_up_is_idempotent_reloads_on_a_config_change_and_down_stops_everything(
    config_path: Path,
) -> None:
    first = v11ops(config_path, "monitor", "up", "--json")
    assert first.returncode == 0, first.stderr
    started = {s["name"]: s for s in json.loads(first.stdout)}
    assert {name: s["action"] for name, s in started.items()} == {
        "alertmanager": "started", "prometheus": "started", "node-exporter": "started",
    }  # fmt: skip
    status = v11ops(config_path, "monitor", "status")
    assert status.returncode == 0 and status.stdout.count("ready") == 3, status.stdout
    pids = {name: s["pid"] for name, s in started.items()}
    layout = stack.Layout.of(load_config(config_path))
    assert "retention" not in layout.prometheus_config.read_text()  # a flag, not a setting
    cmdline = Path(f"/proc/{pids['prometheus']}/cmdline").read_bytes().split(b"\0")
    assert b"--storage.tsdb.retention.time=2h" in cmdline
    assert f"--config.file={layout.prometheus_config}".encode() in cmdline

    assert {s.action for s in stack.up(load_config(config_path))} == {"unchanged"}

    text = config_path.read_text().replace("scrape_interval_s: 0.5", "scrape_interval_s: 2")
    config_path.write_text(text)
    reloaded = {s.name: s for s in stack.up(load_config(config_path))}
    assert reloaded["prometheus"].action == "reloaded"
    assert reloaded["prometheus"].pid == pids["prometheus"]
    wait_for(lambda: "scrape_interval: 2s" in httpx.get(
        f"{reloaded['prometheus'].url}/api/v1/status/config").json()["data"]["yaml"],
        what="Prometheus reloaded its config")  # fmt: skip

    config_path.write_text(text.replace("retention_time: 2h", "retention_time: 3h"))
    restarted = {s.name: s for s in stack.up(load_config(config_path))}
    assert restarted["prometheus"].action == "restarted"
    assert restarted["prometheus"].pid != pids["prometheus"]

    down = v11ops(config_path, "monitor", "down")
    assert down.returncode == 0 and "stopped" in down.stdout, down.stderr
    assert not any(running(config_path).values())
    assert v11ops(config_path, "monitor", "status").returncode == 1
    for pid in (restarted["prometheus"].pid, pids["alertmanager"], pids["node-exporter"]):
        assert pid is not None
        stat = read_stat(pid)  # gone, or a zombie of this test process: not running
        assert stat is None or not stat.running


def test_alerts_lists_what_alertmanager_holds_and_says_when_it_is_not_running(
    config_path: Path,
) -> None:
    missing = v11ops(config_path, "alerts")
    assert missing.returncode == 1, missing.stderr
    assert "does not answer" in missing.stderr and "v11ops monitor up" in missing.stderr
    assert "Traceback" not in missing.stderr

    stack.up(load_config(config_path))
    am = load_config(config_path).monitoring.alertmanager.listen
    now = datetime.now(UTC).isoformat()
    httpx.post(f"http://{am}/api/v2/alerts", json=[
        {"labels": {"alertname": "HighDiskUsage", "severity": "info"}, "startsAt": now},
        {"labels": {"alertname": "V11ServiceDown", "severity": "critical", "priority": "P0",
                    "slot": "green", "version": "1.1.0"},
         "annotations": {"summary": "the node does not answer"}, "startsAt": now},
    ]).raise_for_status()  # fmt: skip
    listed = json.loads(v11ops(config_path, "alerts", "--json").stdout)
    assert [a["labels"]["alertname"] for a in listed] == ["V11ServiceDown", "HighDiskUsage"]
    table = v11ops(config_path, "alerts").stdout
    assert "V11ServiceDown" in table and "the node does not answer" in table


def test_an_address_in_use_is_reported_before_anything_starts(config_path: Path) -> None:
    prometheus = load_config(config_path).monitoring.prometheus.listen
    host, port = prometheus.split(":")
    with socket.socket() as squatter:
        squatter.bind((host, int(port)))
        squatter.listen()
        r = v11ops(config_path, "monitor", "up")
    assert r.returncode == 1, r.stderr
    assert r.stderr.strip() == (
        f"error: {prometheus} is in use by another process; stop it or set "
        "monitoring.prometheus.listen to a free address"
    )
    assert not any(running(config_path).values())


def test_a_missing_rules_folder_is_a_config_error_and_starts_nothing(tmp_path: Path) -> None:
    require_stack_binaries()
    path = minimal_config(tmp_path, monitoring_yaml(rules="no/such/rules"))
    r = v11ops(path, "monitor", "up")
    assert r.returncode == 2, r.stderr
    assert r.stderr.startswith("error: monitoring.prometheus.rules: folder ")
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr
    assert not any(running(path).values())
