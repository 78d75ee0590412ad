"""The `prometheus` provider and the backtest on the answers a real Prometheus gives besides one
number: a scalar, a range vector, nothing at all; and on addresses that are not a Prometheus."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from tests.analysis.helpers import analyse, context, template
from tests.analysis.prometheus import PrometheusServer
from tests.analysis.test_edges import MetricsPage
from tests.gates.servers import running
from tests.notify.conftest import hanging
from v11ops.analysis import SlotRef, Window, backtest
from v11ops.cli.main import app
from v11ops.config import AnalysisTemplate

runner = CliRunner()


def check(query: str, **settings: object) -> dict[str, object]:
    return {"name": "q", "kind": "prometheus", "query": query,
            "success_condition": "result < 0.02", "error_limit": 0, **settings}  # fmt: skip


def test_a_scalar_answer_is_the_number(
    prometheus: PrometheusServer, nodes: dict[str, SlotRef]
) -> None:
    ctx = context(nodes["green"], prometheus_url=prometheus.url)
    outcome, measured = analyse(template(check("scalar(vector(0.01))", count=1)), ctx)
    assert outcome.phase == "successful", outcome.reason
    assert measured[0].value == 0.01


def test_a_range_vector_or_no_prometheus_is_an_explained_error(
    prometheus: PrometheusServer, nodes: dict[str, SlotRef]
) -> None:
    ctx = context(nodes["green"], prometheus_url=prometheus.url)
    _, measured = analyse(template(check('up{job="slots"}[5s]')), ctx)
    assert measured[0].reason == "the query returned a matrix; it must return one number"
    outcome, measured = analyse(template(check("up")), context(nodes["green"]))
    assert measured[0].reason == (
        "no Prometheus to ask: set `address` on the check, or configure monitoring"
    )
    assert outcome.phase == "inconclusive"


@pytest.fixture
def not_prometheus() -> Iterator[str]:
    """A web server that answers 404 in plain text to everything Prometheus would answer."""
    with running(MetricsPage((404, "not found")).app()) as url:
        yield url


def test_an_address_that_is_not_prometheus_or_never_answers_is_named(
    nodes: dict[str, SlotRef], not_prometheus: str
) -> None:
    _, measured = analyse(template(check("up", address=not_prometheus)), context(nodes["green"]))
    assert measured[0].reason == (
        f"{not_prometheus} answered HTTP 404 without JSON; is it Prometheus?"
    )
    with hanging() as port:
        silent = f"http://127.0.0.1:{port}"
        started = time.monotonic()
        _, measured = analyse(
            template(check("up", address=silent, timeout_s=0.3)), context(nodes["green"])
        )
    assert measured[0].reason == f"Prometheus at {silent} did not answer in time"
    assert time.monotonic() - started < 10


def test_a_backtest_of_a_series_that_does_not_exist_shows_empty_points(
    prometheus: PrometheusServer, tmp_path: Path
) -> None:
    config = tmp_path / "v11ops.yaml"
    config.write_text(yaml.safe_dump({
        "service": {"name": "svc", "command": ["true"]},
        "releases": {"1.0.0": {}},
        "analysis": {"absent": {"checks": [
            check('sum(up{job="no-such-job"})', interval_s=1),
        ]}},
    }))  # fmt: skip
    args = ["analysis", "test", "-f", str(config), "--from", "-3s", "--template", "absent",
            "--prometheus", prometheus.url]  # fmt: skip
    human = runner.invoke(app, args)
    assert human.exit_code == 0, human.output
    assert "template absent: inconclusive" in human.stdout
    rows = [line for line in human.stdout.splitlines() if "empty" in line]
    assert len(rows) >= 3, human.stdout  # one row per second of the window, no value in any
    machine = runner.invoke(app, [*args, "--json"])
    points = json.loads(machine.stdout)["templates"]["absent"]["checks"][0]["points"]
    assert {(p["value"], p["samples"], p["verdict"]) for p in points} == {
        (None, None, "inconclusive")
    }


def test_a_window_that_ends_before_it_starts_has_nothing_to_judge() -> None:
    tpl = AnalysisTemplate.model_validate({"checks": [check("up", interval_s=1)]})
    now = time.time()
    [result] = asyncio.run(backtest("t", tpl, Window(now, now - 60), {}, "http://127.0.0.1:1"))
    assert (result.phase, result.reason) == ("inconclusive", "no evaluation points in the window")
    assert result.points == [] and result.decided_at is None
