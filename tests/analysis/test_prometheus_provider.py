"""The `prometheus` provider against a real Prometheus scraping real nodes every second."""

from __future__ import annotations

import pytest

from tests.analysis.helpers import analyse, context, template
from tests.analysis.prometheus import PrometheusServer
from tests.router.harness import closed_port
from v11ops.analysis import SlotRef

# The share of a slot's API requests answered 5xx over the last 5 s (health checks left out);
# `or vector(0)`: a slot that never answered 5xx has no such series.
ERROR_RATIO = (
    '(sum(rate(http_server_requests_seconds_count{slot="{{candidate.slot}}",uri!~"/q/.*",'
    'status=~"5.."}[5s])) or vector(0)) / sum(rate(http_server_requests_seconds_count{'
    'slot="{{candidate.slot}}",uri!~"/q/.*"}[5s]))'
)
REQUESTS = (
    'sum(increase(http_server_requests_seconds_count{slot="{{candidate.slot}}",uri!~"/q/.*"}[5s]))'
)


def ratio_check(**settings: object) -> dict[str, object]:
    return {
        "name": "error-ratio", "kind": "prometheus", "query": ERROR_RATIO,
        "samples_query": REQUESTS, "min_samples": 10, "success_condition": "result <= 0.02",
        **settings,
    }  # fmt: skip


def test_a_good_candidate_passes(prometheus: PrometheusServer, nodes: dict[str, SlotRef]) -> None:
    ctx = context(nodes["green"], nodes["blue"], prometheus_url=prometheus.url)
    outcome, measured = analyse(template(ratio_check()), ctx)
    assert outcome.phase == "successful", outcome.reason
    assert measured[0].value == 0.0
    assert measured[0].samples is not None and measured[0].samples >= 10
    assert 'slot="green"' in measured[0].query and "{{" not in measured[0].query
    assert measured[0].details["prometheus"] == prometheus.url


def test_an_erroring_candidate_fails_naming_the_check_and_value(
    prometheus: PrometheusServer, nodes: dict[str, SlotRef]
) -> None:
    ctx = context(nodes["red"], nodes["blue"], prometheus_url=prometheus.url)
    outcome, measured = analyse(template(ratio_check()), ctx)
    assert outcome.phase == "failed"
    value = measured[0].value
    assert 0.2 < value < 0.8
    assert outcome.reason.startswith(f"error-ratio failed: result {value:.4g} breaks the success")
    assert "'result <= 0.02'" in outcome.reason


def test_too_few_requests_is_inconclusive(
    prometheus: PrometheusServer, nodes: dict[str, SlotRef]
) -> None:
    ctx = context(nodes["green"], nodes["blue"], prometheus_url=prometheus.url)
    outcome, measured = analyse(template(ratio_check(min_samples=100_000)), ctx)
    assert outcome.phase == "inconclusive"
    assert measured[0].reason.startswith("only ")
    assert "fewer than min_samples 100000" in outcome.reason


# A slot nobody runs: PromQL answers with no series at all (Flagger's "no values found").
EMPTY = 'sum(rate(http_server_requests_seconds_count{slot="nobody"}[5s]))'
# A counter that never moves: its rate divided by itself is 0/0.
NAN = (
    'sum(rate(aurigraph_transactions_failed_total{slot="{{candidate.slot}}"}[5s])) '
    '/ sum(rate(aurigraph_transactions_failed_total{slot="{{candidate.slot}}"}[5s]))'
)


@pytest.mark.parametrize(
    ("query", "policy_key", "words"),
    [(EMPTY, "on_empty", "the result is empty"), (NAN, "on_nan", "the result is NaN")],
)
@pytest.mark.parametrize("policy", ["inconclusive", "failed", "successful"])
def test_empty_and_nan_results_follow_the_configured_policy(
    prometheus: PrometheusServer,
    nodes: dict[str, SlotRef],
    query: str,
    policy_key: str,
    words: str,
    policy: str,
) -> None:
    check = {
        "name": "q", "kind": "prometheus", "query": query, "success_condition": "result < 1",
        "interval_s": 0.1, "count": 1, policy_key: policy,
    }  # fmt: skip
    ctx = context(nodes["green"], nodes["blue"], prometheus_url=prometheus.url)
    outcome, measured = analyse(template(check), ctx)
    assert outcome.phase == policy
    assert measured[0].verdict == policy
    assert measured[0].reason.startswith(words)
    assert measured[0].reason.endswith(f"{policy_key}: {policy}")


def test_prometheus_down_counts_errors_and_explains_them(nodes: dict[str, SlotRef]) -> None:
    down = f"http://127.0.0.1:{closed_port()}"
    ctx = context(nodes["green"], nodes["blue"], prometheus_url=down)
    outcome, measured = analyse(template(ratio_check(interval_s=0.1, error_limit=1)), ctx)
    assert outcome.phase == "inconclusive"  # on_error: the default pauses for a human
    assert [m.verdict for m in measured] == ["error", "error"]
    assert outcome.reason.startswith(f"error-ratio inconclusive: cannot reach Prometheus at {down}")
    assert "2 provider errors > error_limit 1" in outcome.reason
    failing = template(ratio_check(interval_s=0.1, error_limit=0, on_error="failed"))
    assert analyse(failing, ctx)[0].phase == "failed"


def test_a_bad_query_is_an_error_quoting_prometheus(
    prometheus: PrometheusServer, nodes: dict[str, SlotRef]
) -> None:
    check = {
        "name": "typo", "kind": "prometheus", "query": "sum(rate(x[5s]", "error_limit": 0,
        "success_condition": "result < 1", "interval_s": 0.1,
    }  # fmt: skip
    ctx = context(nodes["green"], prometheus_url=prometheus.url)
    outcome, _ = analyse(template(check), ctx)
    assert "Prometheus rejected the query (bad_data)" in outcome.reason


def test_many_series_must_be_aggregated(
    prometheus: PrometheusServer, nodes: dict[str, SlotRef]
) -> None:
    check = {
        "name": "up", "kind": "prometheus", "query": 'up{job="slots"}', "error_limit": 0,
        "success_condition": "result == 1", "interval_s": 0.1,
    }  # fmt: skip
    ctx = context(nodes["green"], prometheus_url=prometheus.url)
    outcome, _ = analyse(template(check), ctx)
    assert "the query returned 4 series" in outcome.reason
    assert "aggregate them to one" in outcome.reason


def test_a_stable_placeholder_without_a_stable_slot_is_explained(
    prometheus: PrometheusServer, nodes: dict[str, SlotRef]
) -> None:
    check = {
        "name": "vs", "kind": "prometheus", "query": 'up{slot="{{stable.slot}}"}',
        "success_condition": "result == 1", "interval_s": 0.1, "error_limit": 0,
    }  # fmt: skip
    outcome, _ = analyse(template(check), context(nodes["green"], prometheus_url=prometheus.url))
    assert "the query uses {{stable.slot}}, which has no value here" in outcome.reason
