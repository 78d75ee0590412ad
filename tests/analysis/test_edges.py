"""What an analysis says when its sources misbehave: a metrics page that is down, not a metrics
page, or missing its first scrape; a router whose socket is gone; a top-up that cannot send or
does not help; and the outcome's JSON and gate evidence with NaN, infinities and early decisions.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from tests.analysis.helpers import analyse, context, template
from tests.gates.servers import running
from tests.router.harness import closed_port
from v11ops.analysis import AnalysisOutcome, Measurement, SlotRef
from v11ops.analysis.measurement import json_safe
from v11ops.analysis.outcome import Tally
from v11ops.analysis.traffic import histogram_quantile
from v11ops.config import ScrapeCheck
from v11ops.router import RouterClient, RouterStats

SCRAPE = {"name": "errors", "kind": "scrape", "metric": "error_rate",
          "success_condition": "result <= 0.02", "interval_s": 0.2}  # fmt: skip


def page(requests: int, errors: int = 0) -> str:
    """A node's request-duration histogram, as its /q/metrics shows it."""
    ok = requests - errors
    lines = ["# TYPE http_server_requests_seconds histogram"]
    for status, n in (("200", ok), ("500", errors)):
        labels = f'method="GET",uri="/api/v11/info",status="{status}"'
        lines += [
            f'http_server_requests_seconds_bucket{{{labels},le="0.1"}} {n}',
            f'http_server_requests_seconds_bucket{{{labels},le="+Inf"}} {n}',
            f"http_server_requests_seconds_count{{{labels}}} {n}",
            f"http_server_requests_seconds_sum{{{labels}}} {n * 0.01}",
        ]
    return "\n".join(lines) + "\n"


class MetricsPage:
    """A stand-in slot: /q/metrics answers the queued (status, body) pairs in turn, then
    repeats the last; /api/v11/info answers 200 and is counted nowhere."""

    def __init__(self, *answers: tuple[int, str]) -> None:
        self.answers = list(answers)
        self.scrapes = 0
        self.url = ""

    def app(self) -> Starlette:
        async def metrics(_: Request) -> PlainTextResponse:
            status, body = self.answers[min(self.scrapes, len(self.answers) - 1)]
            self.scrapes += 1
            return PlainTextResponse(body, status_code=status)

        async def info(_: Request) -> PlainTextResponse:
            return PlainTextResponse("{}")

        return Starlette(routes=[Route("/q/metrics", metrics), Route("/api/v11/info", info)])


@pytest.fixture
def slot() -> Iterator[MetricsPage]:
    served = MetricsPage((200, page(0)))
    with running(served.app()) as url:
        served.url = url
        yield served


def _ref(served: MetricsPage) -> SlotRef:
    return SlotRef("green", "1.1.0", served.url)


# -- the scrape provider ------------------------------------------------------------------------


def test_a_first_scrape_that_fails_makes_the_next_one_the_base(slot: MetricsPage) -> None:
    slot.answers = [(503, "starting"), (200, page(10)), (200, page(30))]
    check = {**SCRAPE, "count": 1, "error_limit": 1}
    outcome, measured = analyse(template(check), context(_ref(slot)))
    assert [m.verdict for m in measured] == ["error", "successful"]
    assert measured[0].reason == (
        f"no earlier scrape of {slot.url}/q/metrics to compare with; counting from now"
    )
    assert measured[1].samples == 20 and measured[1].value == 0.0
    assert outcome.phase == "successful"


@pytest.mark.parametrize(
    ("answer", "why"),
    [
        ((404, "not here"), "answered HTTP 404"),
        ((200, "this is { not a metrics page"), "is not a Prometheus metrics page"),
        ((200, "# TYPE other_total counter\nother_total 1\n"), "has no histogram"),
    ],
)
def test_a_page_that_cannot_be_read_is_an_explained_error(
    slot: MetricsPage, answer: tuple[int, str], why: str
) -> None:
    slot.answers = [answer]
    outcome, measured = analyse(template({**SCRAPE, "error_limit": 0}), context(_ref(slot)))
    assert outcome.phase == "inconclusive"
    assert measured[0].verdict == "error" and why in measured[0].reason


def test_a_check_of_the_stable_slot_without_one_is_an_explained_error(slot: MetricsPage) -> None:
    stable = {**SCRAPE, "slot": "stable", "error_limit": 0}
    outcome, measured = analyse(template(stable), context(_ref(slot)))
    assert measured[0].query == (
        "scrape (no stable slot): error_rate of slot stable from http_server_requests_seconds"
    )
    assert "the check reads the stable slot, and there is none" in outcome.reason


# -- the router provider ------------------------------------------------------------------------


def test_router_checks_without_a_stable_slot_or_a_router_say_why(
    slot: MetricsPage, tmp_path: Path
) -> None:
    router = {"name": "r", "kind": "router", "metric": "error_rate",
              "success_condition": "result < 0.1", "error_limit": 0}  # fmt: skip
    outcome, _ = analyse(template({**router, "slot": "stable"}), context(_ref(slot)))
    assert "the check reads the stable slot, and this deployment has none" in outcome.reason

    gone = RouterClient(tmp_path / "router.sock", timeout_s=1)  # the router is not running

    async def stats() -> RouterStats | None:
        return await asyncio.to_thread(gone.stats)

    outcome, measured = analyse(template(router), context(_ref(slot), router_stats=stats))
    assert measured[0].verdict == "error"
    assert measured[0].reason.startswith("cannot read the router's counters")


# -- top-up ---------------------------------------------------------------------------------------


def test_a_top_up_that_cannot_send_is_recorded_and_the_check_goes_on(slot: MetricsPage) -> None:
    slot.answers = [(200, page(0)), (200, page(2))]
    down = f"http://127.0.0.1:{closed_port()}"

    async def top_up(n: int) -> int:
        async with httpx.AsyncClient(timeout=2) as client:
            await client.get(f"{down}/api/v11/info")  # the router is down
        return n

    check = {**SCRAPE, "count": 1, "min_samples": 20}
    outcome, measured = analyse(template(check), context(_ref(slot), top_up=top_up))
    assert measured[0].verdict == "inconclusive", measured[0].reason
    assert measured[0].details["top_up_wanted"] == 18
    assert measured[0].details["top_up_error"], "the load generator's failure is recorded"
    assert "top_up_sent" not in measured[0].details
    assert outcome.phase == "inconclusive"


def test_a_top_up_the_counters_never_see_is_waited_for_then_judged(slot: MetricsPage) -> None:
    slot.answers = [(200, page(0)), (200, page(2))]  # the synthetic requests are not counted

    async def top_up(n: int) -> int:
        async with httpx.AsyncClient(timeout=2) as client:
            for _ in range(n):
                await client.get(f"{slot.url}/api/v11/info")
        return n

    check = {**SCRAPE, "count": 1, "min_samples": 20, "top_up_wait_s": 0.6}
    started = time.monotonic()
    _, measured = analyse(template(check), context(_ref(slot), top_up=top_up))
    assert time.monotonic() - started >= 0.6, "waited for the counters to catch up"
    assert measured[0].details["top_up_sent"] == 18
    assert measured[0].samples == 2 and measured[0].verdict == "inconclusive"
    assert slot.scrapes >= 4, "observed again while waiting"


# -- Mann-Whitney and the engine ------------------------------------------------------------------


def test_probes_count_the_candidates_errors_apart_from_its_latencies(
    nodes: dict[str, SlotRef],
) -> None:
    mw = {"name": "mw", "kind": "mann_whitney", "samples": 40, "min_samples": 5}
    _, measured = analyse(template(mw), context(nodes["red"], nodes["blue"]))
    counted = measured[0].details["candidate"]
    assert counted["non_2xx"] > 0 and counted["transport_errors"] == 0
    assert counted["answered_2xx"] + counted["non_2xx"] == 40
    assert measured[0].details["stable"]["non_2xx"] == 0


def test_an_abort_during_the_initial_delay_measures_nothing(slot: MetricsPage) -> None:
    ctx = context(_ref(slot), abort_requested=lambda: True)
    started = time.monotonic()
    outcome, measured = analyse(template({**SCRAPE, "initial_delay_s": 30}), ctx)
    assert outcome.phase == "aborted" and measured == []
    assert time.monotonic() - started < 20, "not after the 30 s delay"
    assert slot.scrapes == 0


# -- outcome, evidence and JSON -------------------------------------------------------------------


def _measurement(verdict: str, value: object, index: int = 1, **thresholds: object) -> Measurement:
    return Measurement(
        check="p99", provider="scrape", query="latency p99 (s) of slot green",
        at=datetime(2025, 1, 1, tzinfo=UTC), index=index, value=value, samples=12,
        condition="success: result < 0.5", thresholds=thresholds, verdict=verdict,  # type: ignore[arg-type]
        reason=f"result {value}", details={"buckets": [math.inf, 1.0]},
    )  # fmt: skip


def test_a_decided_check_ignores_later_measurements_and_an_abort() -> None:
    tally = Tally(ScrapeCheck.model_validate(SCRAPE), count=3)
    assert tally.add(_measurement("failed", 0.9)) == "failed"
    assert tally.add(_measurement("successful", 0.1, index=2)) == "failed"
    tally.abort()
    assert tally.phase == "failed" and tally.counts["successful"] == 0
    assert tally.reason.startswith("result 0.9 [measurement 1: 1 failed > failure_limit 0]")


def test_outcomes_are_json_and_gate_evidence_even_with_nan_and_infinities() -> None:
    measured = (
        _measurement("inconclusive", math.nan, min_samples=20),
        _measurement("failed", math.inf, index=2),
        _measurement("successful", -math.inf, index=3),
    )
    outcome = AnalysisOutcome("failed", "p99 failed: result inf", measured, {"p99": "failed"})
    text = json.dumps(outcome.to_dict(), allow_nan=False)
    data = json.loads(text)
    assert [m["value"] for m in data["measurements"]] == ["NaN", "+Inf", "-Inf"]
    assert data["measurements"][0]["details"] == {"buckets": ["+Inf", 1.0]}
    assert data["checks"] == {"p99": "failed"} and data["phase"] == "failed"

    gate = outcome.to_gate_result("canary analysis", duration_s=1.5)
    assert gate.passed is False and gate.name == "canary analysis"
    first, *rest = gate.evidence
    assert (first.check, first.observed, first.expected) == ("outcome", "failed", "successful")
    assert [e.passed for e in rest] == [False, False, True]
    assert rest[0].expected == {"condition": "success: result < 0.5", "min_samples": 20}
    assert rest[1].expected == {"condition": "success: result < 0.5"}
    assert rest[0].observed["value"] == "NaN" and rest[0].check.startswith("p99 #1 [scrape]")
    assert json_safe((1.0, [math.nan])) == [1.0, ["NaN"]]


def test_a_latency_quantile_in_the_overflow_bucket_is_the_highest_finite_bound() -> None:
    bounds = (0.05, 0.1, math.inf)
    assert histogram_quantile(0.99, bounds, (0, 0, 20)) == 0.1
    assert histogram_quantile(0.5, bounds, (10, 20, 20)) == 0.05
    assert math.isnan(histogram_quantile(0.99, bounds, (0, 0, 0)))
    assert math.isnan(histogram_quantile(0.99, (), ()))
