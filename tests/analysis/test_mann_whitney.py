"""Baseline versus canary latency with the Mann-Whitney U check, on real nodes and on numbers."""

from __future__ import annotations

import pytest

from tests.analysis.helpers import analyse, context, template
from tests.router.harness import closed_port
from v11ops.analysis import SlotRef
from v11ops.analysis.mann_whitney import Probes, compare
from v11ops.config import MannWhitneyCheck

MW = {"name": "latency-vs-baseline", "kind": "mann_whitney", "interval_s": 0.1}


def test_a_candidate_several_times_slower_fails(nodes: dict[str, SlotRef]) -> None:
    # slow adds 50 ms to ~2 ms: far slower on an idle machine, and still clearly slower on a
    # loaded one, where scheduling delays of tens of ms reach both slots.
    outcome, measured = analyse(template(MW), context(nodes["slow"], nodes["blue"]))
    assert outcome.phase == "failed", [m.reason for m in measured]
    stats = measured[0].value
    assert stats["slowdown"] >= 1.2 and stats["effect_size"] >= 0.75 and stats["p_value"] < 0.01
    assert outcome.reason.startswith("latency-vs-baseline failed: candidate slower: median")
    assert measured[0].samples == 100
    assert measured[0].details["candidate"] == {
        "answered_2xx": 100, "non_2xx": 0, "transport_errors": 0,
    }  # fmt: skip


def test_two_equal_releases_are_not_flagged(nodes: dict[str, SlotRef]) -> None:
    outcome, measured = analyse(template(MW), context(nodes["green"], nodes["blue"]))
    assert outcome.phase == "successful", outcome.reason
    assert measured[0].reason.startswith("no slowdown beyond the thresholds")


def test_without_a_stable_slot_it_cannot_compare(nodes: dict[str, SlotRef]) -> None:
    outcome, _ = analyse(template(MW), context(nodes["green"]))
    assert outcome.phase == "inconclusive"
    assert "no stable slot to compare the candidate with" in outcome.reason


def test_an_unreachable_candidate_is_an_explained_error(nodes: dict[str, SlotRef]) -> None:
    gone = SlotRef("green", "1.1.0", f"http://127.0.0.1:{closed_port()}")
    outcome, measured = analyse(template({**MW, "error_limit": 0}), context(gone, nodes["blue"]))
    assert measured[0].verdict == "error"
    assert f"cannot probe slot green at {gone.base_url}" in outcome.reason


CHECK = MannWhitneyCheck.model_validate({"name": "mw", "kind": "mann_whitney", "min_samples": 5})
BLUE, GREEN = SlotRef("blue", "1", "http://b"), SlotRef("green", "2", "http://g")


def _compare(candidate: list[float], stable: list[float]) -> tuple[str, str, dict[str, object]]:
    return compare(CHECK, Probes(GREEN, candidate), Probes(BLUE, stable))


STABLE = [0.002 + 0.0001 * (i % 10) for i in range(40)]


def test_the_effect_size_is_the_chance_a_candidate_request_is_slower() -> None:
    verdict, _, stats = _compare([3 * x for x in STABLE], STABLE)
    assert verdict == "failed"
    assert stats["effect_size"] == 1.0
    verdict, _, stats = _compare(list(STABLE), STABLE)
    assert verdict == "successful"
    assert stats["effect_size"] == 0.5  # identical samples: every pair a tie


def test_a_significant_but_small_slowdown_is_not_a_regression() -> None:
    steady = [0.002 + 0.00001 * (i % 10) for i in range(40)]  # little spread: 5 % stands out
    verdict, reason, stats = _compare([1.05 * x for x in steady], steady)
    assert stats["p_value"] < 0.01 and stats["effect_size"] >= 0.75  # clearly, but only 5 %
    assert verdict == "successful"
    assert "(1.05x, needs 1.2x)" in reason


def test_too_few_answers_are_inconclusive() -> None:
    verdict, reason, _ = _compare([0.01] * 4, STABLE)
    assert verdict == "inconclusive"
    assert reason.startswith("only 4 candidate and 40 stable probes answered 2xx")


@pytest.mark.parametrize("field", ["max_p_value", "min_effect_size", "min_slowdown"])
def test_each_threshold_alone_can_clear_the_candidate(field: str) -> None:
    lenient = {"max_p_value": 1e-300, "min_effect_size": 1.0, "min_slowdown": 100.0}[field]
    check = CHECK.model_copy(update={field: lenient})
    slower = Probes(GREEN, [x + 0.0008 for x in STABLE])  # 1.33x, overlapping a little
    assert compare(check, slower, Probes(BLUE, STABLE))[0] == "successful"
    assert compare(CHECK, slower, Probes(BLUE, STABLE))[0] == "failed"
