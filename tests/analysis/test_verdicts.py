"""Conditions, the per-measurement verdict and the outcome rules, on plain values."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest

from tests.analysis.helpers import template
from v11ops.analysis import Measurement
from v11ops.analysis.judge import Observation, judge
from v11ops.analysis.outcome import Tally, combine
from v11ops.config import Condition, PrometheusCheck


def check(**settings: object) -> PrometheusCheck:
    fields = {"name": "c", "kind": "prometheus", "query": "up", **settings}
    return PrometheusCheck.model_validate(fields)


@pytest.mark.parametrize(
    ("text", "result", "holds"),
    [
        ("result < 0.01", 0.005, True),
        ("result < 0.01", 0.01, False),
        ("result<=0.01", 0.01, True),
        ("result >= 1e-3", 0.001, True),
        ("result == 1", 1.0, True),
        ("result != 1", 2.0, True),
        ("result > 0 and result < 0.5", 0.2, True),
        ("result > 0 and result < 0.5", 0.7, False),
        ("result < 0.1 or result > 0.9", 0.95, True),
        ("result < -.5", -1.0, True),
        ("result < 0.01", math.nan, False),
    ],
)
def test_conditions_compare_result_with_numbers(text: str, result: float, holds: bool) -> None:
    assert Condition.parse(text).holds(result) is holds


@pytest.mark.parametrize(
    "text",
    ["__import__('os').system('true')", "result < x", "result <", "0.1 > result", "len(result) > 1",
     "result < 0.1 and", "result << 1"],
)  # fmt: skip
def test_anything_but_comparisons_is_refused_and_never_evaluated(text: str) -> None:
    with pytest.raises(ValueError, match="write comparisons of result with numbers"):
        Condition.parse(text)


def test_only_success_condition_fails_what_it_does_not_meet() -> None:
    c = check(success_condition="result <= 0.02")
    assert judge(c, Observation(0.01, None)) == ("successful", "result 0.01 meets 'result <= 0.02'")
    verdict, reason = judge(c, Observation(0.3, None))
    assert verdict == "failed"
    assert reason == "result 0.3 breaks the success condition 'result <= 0.02'"


def test_only_failure_condition_passes_what_it_does_not_meet() -> None:
    c = check(failure_condition="result > 0.1")
    assert judge(c, Observation(0.05, None))[0] == "successful"
    assert judge(c, Observation(0.2, None)) == (
        "failed",
        "result 0.2 meets the failure condition 'result > 0.1'",
    )


def test_between_success_and_failure_is_inconclusive() -> None:
    c = check(success_condition="result <= 0.01", failure_condition="result > 0.05")
    verdict, reason = judge(c, Observation(0.03, None))
    assert verdict == "inconclusive"
    assert "meets neither 'result <= 0.01' nor 'result > 0.05'" in reason


def test_too_few_samples_is_inconclusive_whatever_the_value() -> None:
    c = check(success_condition="result <= 0.02", min_samples=50, samples_query="x")
    verdict, reason = judge(c, Observation(0.9, 7), topped_up=43)
    assert verdict == "inconclusive"
    assert reason == (
        "only 7 requests after a top-up of 43 synthetic requests, fewer than min_samples 50: "
        "too few to judge"
    )


@pytest.mark.parametrize("policy", ["inconclusive", "failed", "successful"])
def test_empty_and_nan_results_follow_their_policy(policy: str) -> None:
    c = check(success_condition="result <= 0.02", on_empty=policy, on_nan=policy)
    assert judge(c, Observation(None, None)) == (
        policy,
        f"the result is empty (no series); on_empty: {policy}",
    )
    verdict, reason = judge(c, Observation(math.nan, None))
    assert (verdict, reason.endswith(f"on_nan: {policy}")) == (policy, True)


def _m(verdict: str, index: int, name: str = "c") -> Measurement:
    return Measurement(
        check=name, provider="prometheus", query="up", at=datetime.now(UTC), index=index,
        value=1.0, samples=None, condition="", thresholds={}, verdict=verdict,  # type: ignore[arg-type]
        reason=f"{verdict} #{index}",
    )  # fmt: skip


def _tally(verdicts: list[str], **limits: object) -> Tally:
    c = check(success_condition="result == 1", count=4, **limits)
    tally = Tally(c, c.count)
    for i, v in enumerate(verdicts, 1):
        tally.add(_m(v, i))
    return tally


def test_failed_only_after_more_failures_than_the_limit() -> None:
    assert _tally(["failed", "successful"], failure_limit=1).phase is None
    tally = _tally(["failed", "successful", "failed"], failure_limit=1)
    assert tally.phase == "failed"
    assert tally.reason == "failed #3 [measurement 3: 2 failed > failure_limit 1]"


def test_inconclusive_beyond_its_limit_pauses() -> None:
    tally = _tally(["successful", "inconclusive", "inconclusive"], inconclusive_limit=1)
    assert tally.phase == "inconclusive"
    assert "2 inconclusive > inconclusive_limit 1" in tally.reason


def test_errors_do_not_count_as_measurements_until_their_limit() -> None:
    tally = _tally(["error", "successful", "error", "successful", "successful"], error_limit=2)
    assert tally.phase is None  # 3 judged of 4, 2 errors tolerated
    tally.add(_m("successful", 6))
    assert tally.phase == "successful"
    assert tally.reason == "4 of 4 measurements successful, 2 error (error_limit 2)"


@pytest.mark.parametrize("on_error", ["inconclusive", "failed"])
def test_more_errors_than_the_limit_decide_as_on_error_says(on_error: str) -> None:
    tally = _tally(["error", "error"], error_limit=1, on_error=on_error)
    assert tally.phase == on_error
    assert "2 provider errors > error_limit 1" in tally.reason


def test_the_worst_check_decides_the_analysis_and_is_named() -> None:
    t = template(
        {"name": "a", "kind": "prometheus", "query": "up", "success_condition": "result == 1"},
        {"name": "b", "kind": "prometheus", "query": "up", "success_condition": "result == 1"},
    )
    a, b = (Tally(c, 1) for c in t.checks)
    a.add(_m("successful", 1, "a"))
    b.add(_m("inconclusive", 1, "b"))
    outcome = combine([a, b], [])
    assert outcome.phase == "inconclusive"
    assert outcome.reason.startswith("b inconclusive: inconclusive #1")
    assert outcome.checks == {"a": "successful", "b": "inconclusive"}
