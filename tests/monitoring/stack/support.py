"""Helpers of the monitoring stack tests: a `monitoring:` section on free ports, polling."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from tests.support.services import require_binary
from v11ops.runtime import free_port

BINARIES = ("prometheus", "promtool", "prometheus-alertmanager", "amtool",
            "prometheus-node-exporter")  # fmt: skip


def require_stack_binaries() -> None:
    for name in BINARIES:
        require_binary(name)


def monitoring_yaml(
    *,
    rules: str | None = None,
    alertmanager_config: str | None = None,
    interval_s: float = 0.5,
    webhook: str = "auto",
) -> str:
    """A top-level `monitoring:` section: free loopback ports, fast intervals."""
    rules_value = "null" if rules is None else rules
    am_value = "null" if alertmanager_config is None else alertmanager_config
    return f"""\
monitoring:
  prometheus:
    listen: 127.0.0.1:{free_port()}
    scrape_interval_s: {interval_s}
    evaluation_interval_s: {interval_s}
    retention_time: 2h
    rules: {rules_value}
  alertmanager:
    listen: 127.0.0.1:{free_port()}
    config: {am_value}
  node_exporter:
    listen: 127.0.0.1:{free_port()}
  webhook:
    listen: {webhook}
"""


def write_config(root: Path, text: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    path = root / "v11ops.yaml"
    path.write_text(text)
    return path


MINIMAL_SERVICE = """\
service:
  name: aurigraph-v11-node
  command: ["{python}", "-c", "pass"]
releases:
  "1.0.0": {}
slots:
  blue: {port: auto}
  green: {port: auto}
router:
  listen: 127.0.0.1:%d
  metrics_listen: null
state_dir: state
"""


def minimal_config(root: Path, monitoring: str) -> Path:
    return write_config(root, MINIMAL_SERVICE % free_port() + monitoring)


def wait_for(predicate: Callable[[], Any], timeout_s: float = 30.0, what: str = "condition") -> Any:
    """Poll until `predicate` returns something truthy; that value is returned."""
    deadline = time.monotonic() + timeout_s
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = predicate()
            if last:
                return last
        except (httpx.HTTPError, KeyError, ValueError, AssertionError):
            pass
        time.sleep(0.1)
    raise AssertionError(f"{what} not met within {timeout_s:g}s (last: {last!r})")
