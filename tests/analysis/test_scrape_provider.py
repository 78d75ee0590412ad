"""The `scrape` provider: two scrapes of a real node's /q/metrics, rates from the deltas."""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable

import httpx
import pytest

from tests.analysis.helpers import analyse, context, template
from tests.router.harness import closed_port
from v11ops.analysis import SlotRef
from v11ops.analysis.providers.scrape import Page, read_page
from v11ops.config import ScrapeCheck

ERROR_RATE = {
    "name": "error-rate", "kind": "scrape", "metric": "error_rate",
    "success_condition": "result <= 0.02", "min_samples": 5, "interval_s": 0.6,
}  # fmt: skip

pytestmark = pytest.mark.usefixtures("steady_traffic")


def direct_top_up(slot: SlotRef) -> Callable[[int], Awaitable[int]]:
    """Synthetic requests straight to the slot (no router in these tests)."""

    async def top_up(n: int) -> int:
        async with httpx.AsyncClient(timeout=5) as client:
            for _ in range(n):
                await client.get(f"{slot.base_url}/api/v11/info")
        return n

    return top_up


def test_a_good_slot_passes_on_its_own_metrics(nodes: dict[str, SlotRef]) -> None:
    p99 = {**ERROR_RATE, "name": "p99", "metric": "latency", "success_condition": "result < 1"}
    ctx = context(nodes["green"], nodes["blue"], top_up=direct_top_up(nodes["green"]))
    outcome, measured = analyse(template(ERROR_RATE, p99), ctx)
    assert outcome.phase == "successful", outcome.reason
    assert all(m.samples and m.samples >= 5 for m in measured)
    latency = next(m for m in measured if m.check == "p99")
    assert 0 < latency.value < 1
    assert latency.query == (
        f"scrape {nodes['green'].base_url}/q/metrics: latency p99 (s) of slot green "
        "from http_server_requests_seconds"
    )


def test_an_erroring_slot_fails_with_the_value(nodes: dict[str, SlotRef]) -> None:
    ctx = context(nodes["red"], nodes["blue"], top_up=direct_top_up(nodes["red"]))
    outcome, measured = analyse(template({**ERROR_RATE, "min_samples": 20}), ctx)
    assert outcome.phase == "failed"
    assert measured[0].value > 0.1  # V11_FAULT_ERROR_RATE=0.5, on at least 20 requests
    assert measured[0].details["errors_5xx"] > 0
    assert outcome.reason.startswith(
        f"error-rate failed: result {measured[0].value:.4g} breaks the success condition"
    )


def test_an_unreachable_slot_is_an_explained_error(nodes: dict[str, SlotRef]) -> None:
    gone = SlotRef("green", "1.1.0", f"http://127.0.0.1:{closed_port()}")
    outcome, measured = analyse(template({**ERROR_RATE, "interval_s": 0.1}), context(gone))
    assert outcome.phase == "inconclusive"
    assert [m.verdict for m in measured] == ["error"] * 3
    assert f"cannot scrape {gone.base_url}/q/metrics" in measured[0].reason
    assert "3 provider errors > error_limit 2" in outcome.reason


def test_a_missing_histogram_names_the_setting(nodes: dict[str, SlotRef]) -> None:
    check = {**ERROR_RATE, "histogram": "no_such_seconds", "interval_s": 0.1, "error_limit": 0}
    outcome, _ = analyse(template(check), context(nodes["green"]))
    assert "has no histogram no_such_seconds; set `histogram`" in outcome.reason


PAGE = """\
# TYPE http_server_requests_seconds histogram
http_server_requests_seconds_bucket{le="0.1",status="200",uri="/api/x"} %(ok_fast)d
http_server_requests_seconds_bucket{le="+Inf",status="200",uri="/api/x"} %(ok)d
http_server_requests_seconds_count{status="200",uri="/api/x"} %(ok)d
http_server_requests_seconds_bucket{le="0.1",status="500",uri="?"} %(bad)d
http_server_requests_seconds_bucket{le="+Inf",status="500",uri="?"} %(bad)d
http_server_requests_seconds_count{status="500",uri="?"} %(bad)d
http_server_requests_seconds_bucket{le="0.1",status="200",uri="/q/health/ready"} 1000
http_server_requests_seconds_bucket{le="+Inf",status="200",uri="/q/health/ready"} 1000
http_server_requests_seconds_count{status="200",uri="/q/health/ready"} 1000
"""


def _page(at: float, ok_fast: int, ok: int, bad: int) -> Page:
    check = ScrapeCheck.model_validate(
        {"name": "x", "kind": "scrape", "metric": "error_rate", "success_condition": "result < 1"}
    )
    page = read_page(PAGE % {"ok_fast": ok_fast, "ok": ok, "bad": bad}, check, at)
    assert page is not None
    return page


def test_deltas_leave_out_health_checks_and_count_faults_without_a_route() -> None:
    delta, reset = _page(12.0, 90, 100, 20).since(_page(10.0, 40, 50, 10))
    assert not reset
    assert (delta.requests, delta.errors_5xx, delta.window_s) == (60, 10, 2.0)
    assert delta.value("error_rate", 0.99) == pytest.approx(10 / 60)
    assert delta.value("throughput", 0.99) == 30.0
    assert delta.value("latency", 0.5) == pytest.approx(0.05)  # 60 of 60 at or below 0.1 s


def test_a_counter_reset_counts_from_zero_as_prometheus_does() -> None:
    delta, reset = _page(12.0, 5, 6, 1).since(_page(10.0, 400, 500, 100))
    assert reset
    assert (delta.requests, delta.errors_5xx) == (7, 1)


def test_no_requests_is_nan_not_zero() -> None:
    delta, _ = _page(12.0, 40, 50, 10).since(_page(10.0, 40, 50, 10))
    assert math.isnan(delta.value("error_rate", 0.99))
    assert math.isnan(delta.value("latency", 0.99))
    assert delta.value("throughput", 0.99) == 0.0
