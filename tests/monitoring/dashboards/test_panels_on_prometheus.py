"""Every panel query of the five dashboards returns data from a real Prometheus that scrapes a
real node (behind the builtin router) under load, and node-exporter.

Template variables are filled the way Grafana fills them: query variables from their
`label_values(...)` against this Prometheus ("All": the values as an escaped regex), text
boxes with their default; `$__rate_interval` with 5 s (Grafana's floor is four scrape
intervals, 4 s here) and `$__range` with the test's time range.
"""

from __future__ import annotations

import json
import math
import re
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.monitoring.dashboards.promstack import (
    Prometheus,
    http_ok,
    node_exporter,
    process,
    prometheus,
    wait_until,
)
from tests.support.nodeproc import V11OPS, NodeProcess
from v11ops.load import LoadSpec, run_load
from v11ops.monitoring.dashboards import render
from v11ops.runtime import free_port

pytestmark = pytest.mark.slow

API_KEY = "dashboards-test-key"
LABEL_VALUES = re.compile(r"^label_values\((.+),\s*(\w+)\)$")
REGEX_SPECIAL = re.compile(r"([$^*{}\[\]'+?.()|])")


@pytest.fixture
def short_dir() -> Iterator[Path]:
    """Unix socket paths are limited to 107 bytes: the router's admin socket goes here."""
    path = Path(tempfile.mkdtemp(prefix="v11d-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@dataclass
class Stack:
    node: NodeProcess
    router_url: str
    prometheus: Prometheus


@pytest.fixture
def stack(tmp_path: Path, short_dir: Path) -> Iterator[Stack]:
    """A node behind the builtin router, node-exporter, and Prometheus scraping all three.
    Everything starts at once (the CLI takes seconds to import on a busy machine)."""
    node = NodeProcess(
        port=free_port(),
        db=f"sqlite:///{tmp_path / 'ledger.db'}",
        node_id="blue",
        log_path=tmp_path / "node.log",
        extra_args=["--data-dir", str(tmp_path)],
        env={"V11_API_KEYS": API_KEY},
    )
    public, metrics = free_port(), free_port()
    router_args = [
        V11OPS, "router", "run", "--listen", f"127.0.0.1:{public}",
        "--admin-socket", str(short_dir / "admin.sock"),
        "--state-file", str(tmp_path / "routes.json"),
        "--metrics-listen", f"127.0.0.1:{metrics}",
        "--target", f"blue={node.url}@100",
    ]  # fmt: skip
    with ExitStack() as stack:
        stack.callback(node.kill)
        node.start()
        router = stack.enter_context(process(router_args, tmp_path / "router.log"))
        host = stack.enter_context(node_exporter(tmp_path))
        targets = {
            "aurigraph-v11-node": f"127.0.0.1:{node.port}",
            "v11ops-router": f"127.0.0.1:{metrics}",
            "node": host,
        }
        prom = stack.enter_context(prometheus(tmp_path, targets))
        node.wait_ready(timeout=60)
        wait_until(http_ok(f"http://127.0.0.1:{metrics}/health"), "router", router, timeout=60)
        yield Stack(node, f"http://127.0.0.1:{public}", prom)


def _drive_load(url: str) -> None:
    """Requests the security panels count, then a few seconds of signed transfers."""
    submit = f"{url}/api/v11/transactions"
    bad_signature = {
        "sender": "11" * 32, "recipient": "22" * 32, "amount": 1, "nonce": 1,
        "signature": "00" * 64,
    }  # fmt: skip
    assert httpx.post(submit, json=bad_signature, headers={"X-API-Key": "wrong"}).status_code == 401
    assert httpx.post(submit, json=bad_signature, headers={"X-API-Key": API_KEY}).status_code == 400
    spec = LoadSpec(url, rate=200, duration_s=3, batch=5, accounts=100, api_key=API_KEY)
    report = run_load(spec)
    assert report.accepted > 0, report.errors


def _wait_for_scrapes(prom: Prometheus, jobs: tuple[str, ...], after: float) -> None:
    """Until every job was scraped after `after` (so the rate windows have seen the load)."""
    deadline = time.monotonic() + 20
    while any(prom.last_scrape(job) <= after for job in jobs):
        assert time.monotonic() < deadline, f"no scrape of {jobs} after the load"
        time.sleep(0.2)


def _all_of(values: list[str]) -> str:
    """Grafana's "All" of a multi-value variable in a Prometheus query: escaped, alternated."""
    escaped = [REGEX_SPECIAL.sub(r"\\\\\1", v) for v in values]
    return escaped[0] if len(escaped) == 1 else f"({'|'.join(escaped)})"


def _variables(board: dict[str, Any], prom: Prometheus) -> dict[str, str]:
    values: dict[str, str] = {}
    for var in board["templating"]["list"]:
        if var["type"] == "textbox":
            values[var["name"]] = var["query"]
            continue
        match = LABEL_VALUES.match(_fill(var["query"], values))
        assert match, f"{board['title']}: variable {var['name']}: {var['query']}"
        found = prom.label_values(*match.groups())
        assert found, f"{board['title']}: variable {var['name']} has no values"
        values[var["name"]] = _all_of(found)
    return values


def _fill(expr: str, values: dict[str, str]) -> str:
    # Longest names first, so $host never eats the start of $hostname.
    for name in sorted(values, key=len, reverse=True):
        expr = expr.replace(f"${name}", values[name])
    return expr


def _returns_data(prom: Prometheus, expr: str, start: float, end: float) -> bool:
    """At least one series with at least one finite value."""
    return any(
        math.isfinite(float(value))
        for series in prom.query_range(expr, start, end)
        for _, value in series["values"]
    )


def test_every_panel_query_returns_data_from_a_node_under_load(stack: Stack) -> None:
    prom = stack.prometheus
    jobs = ("aurigraph-v11-node", "v11ops-router", "node")
    # Prometheus's first scrape can come seconds after the node is ready: a load that ended
    # before it would leave every rate() with a single sample. So: scraped once before the load,
    # and twice after it.
    _wait_for_scrapes(prom, jobs, 0)
    start = time.time()
    _drive_load(stack.router_url)
    _wait_for_scrapes(prom, jobs, time.time() + 2)
    end = time.time()
    fixed = {"__rate_interval": "5s", "__range": f"{math.ceil(end - start)}s"}

    empty = []
    for name, text in render().items():
        board = json.loads(text)
        values = {**fixed, **_variables(board, prom)}
        for panel in board["panels"]:
            for target in panel["targets"]:
                expr = _fill(target["expr"], values)
                assert "$" not in expr, f"unfilled variable in {expr}"
                if not _returns_data(prom, expr, start, end):
                    empty.append(f"{name} / {panel['title']}: {expr}")
    assert not empty, "panels without data:\n" + "\n".join(empty)
