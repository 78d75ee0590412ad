"""Canary `analysis` steps end to end: the controller runs the templates against the canary,
stores every measurement, rolls back on failed, pauses on inconclusive, tops up thin traffic."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.deploy.test_bluegreen import Traffic
from tests.support.services import require_binary
from tests.support.stack import Stack, running_stack

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


def steps(template: str) -> str:
    return f"""\
  canary:
    min_requests: 1000000   # the pause watch never judges: the analysis decides alone
    steps:
      - set_weight: 50
      - analysis: {{templates: [{template}]}}
      - set_weight: 100
"""


TEMPLATES = """\
analysis:
  quick-errors:
    checks:
      - name: errors
        kind: router
        metric: error_rate
        success_condition: "result <= 0.02"
        min_samples: 10
        interval_s: 1
        count: 2
  quiet-errors:
    checks:
      - name: errors
        kind: router
        metric: error_rate
        success_condition: "result <= 0.02"
        min_samples: 10
        interval_s: 1
        count: 2
        top_up: false
  scraped-errors:
    checks:
      - name: errors
        kind: scrape
        metric: error_rate
        success_condition: "result <= 0.02"
        min_samples: 10
        interval_s: 1
        count: 2
"""


def stack_with(root: Path, template: str, router_kind: str = "builtin") -> Iterator[Stack]:
    yield from running_stack(root, strategy=steps(template), top=TEMPLATES, router_kind=router_kind)


def explain(stack: Stack) -> dict[str, Any]:
    return dict(json.loads(stack.cli("history", "1", "--explain", "--json").stdout)[0])


@pytest.fixture
def quick(tmp_path: Path) -> Iterator[Stack]:
    yield from stack_with(tmp_path / "stack", "quick-errors")


def test_a_failed_analysis_rolls_back_and_says_which_check_and_value(quick: Stack) -> None:
    with Traffic(quick.url):
        r = quick.cli("deploy", "errors", "--strategy", "canary")
    assert r.returncode == 1, r.stdout
    detail = explain(quick)
    assert detail["status"] == "rolled_back"
    assert "analysis failed" in detail["reason"] and "errors" in detail["reason"]
    measured = [v for v in detail["verdicts"] if v["gate"] == "analysis:quick-errors"]
    assert measured and not measured[-1]["passed"]
    assert measured[-1]["evidence"][0]["expected"]  # the condition and thresholds are stored
    assert quick.served_version() == "1.0.0"


def test_a_canary_without_traffic_is_topped_up_and_then_judged(quick: Stack) -> None:
    r = quick.cli("deploy", "1.1.0", "--strategy", "canary")  # no client traffic at all
    assert r.returncode == 0, r.stdout + r.stderr
    detail = explain(quick)
    assert detail["status"] == "succeeded"
    notes = " ".join(
        json.dumps(e) for v in detail["verdicts"] if v["gate"].startswith("analysis:")
        for e in v["evidence"]
    )  # fmt: skip
    assert "top_up" in notes


@pytest.fixture
def quiet(tmp_path: Path) -> Iterator[Stack]:
    yield from stack_with(tmp_path / "stack", "quiet-errors")


def test_without_traffic_or_top_up_the_canary_pauses_instead_of_guessing(quiet: Stack) -> None:
    assert quiet.cli("deploy", "1.1.0", "--strategy", "canary", "--no-wait").returncode == 0
    quiet.wait(lambda: explain(quiet)["status"] == "paused", timeout=90)
    detail = explain(quiet)
    assert "inconclusive" in detail["reason"]
    assert quiet.cli("abort").returncode == 0
    quiet.wait(lambda: explain(quiet)["status"] == "aborted", timeout=60)
    assert quiet.served_version() == "1.0.0"


@pytest.fixture
def scraped(tmp_path: Path) -> Iterator[Stack]:
    require_binary("nginx")
    yield from stack_with(tmp_path / "stack", "scraped-errors", router_kind="nginx")


def test_with_nginx_a_scrape_analysis_catches_an_erroring_canary(scraped: Stack) -> None:
    with Traffic(scraped.url):
        r = scraped.cli("deploy", "errors", "--strategy", "canary")
    assert r.returncode == 1, r.stdout
    detail = explain(scraped)
    assert detail["status"] == "rolled_back" and "analysis failed" in detail["reason"]
    assert scraped.served_version() == "1.0.0"
