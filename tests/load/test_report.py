from __future__ import annotations

from array import array

from v11ops.load import LoadSpec
from v11ops.load.report import LatencySummary, merge
from v11ops.load.tally import Tally


def test_percentiles_are_nearest_rank_in_milliseconds() -> None:
    summary = LatencySummary.of([i / 1000 for i in range(1, 101)])
    assert (summary.count, summary.p50_ms, summary.p95_ms, summary.p99_ms, summary.max_ms) == (
        100,
        50.0,
        95.0,
        99.0,
        100.0,
    )


def test_an_empty_summary_is_all_zero() -> None:
    assert LatencySummary.of([]) == LatencySummary(0, 0.0, 0.0, 0.0, 0.0)


def test_tallies_of_several_processes_add_up() -> None:
    spec = LoadSpec(target="http://127.0.0.1:1", rate=100, duration_s=2, workers=2, accounts=4)
    first = Tally(started=10.0, finished=12.5, requests=3, transactions=3, accepted_requests=2)
    first.accepted = 2
    first.rejected["429"] = 1
    first.latencies = array("d", [0.001, 0.002, 0.003])
    first.hashes = ["aa", "bb"]
    second = Tally(started=10.1, finished=11.0, requests=2, transactions=2, accepted_requests=1)
    second.accepted = 1
    second.errors["timeout"] = 1
    second.errors["client_saturated"] = 4
    second.latencies = array("d", [0.004])
    second.hashes = ["cc"]
    report = merge(spec, [first, second])
    assert report.requests == 5
    assert report.accepted == 3
    assert report.rejected == {"429": 1}
    assert report.errors == {"client_saturated": 4, "timeout": 1}
    assert report.error_count == 5
    assert report.failed
    assert report.latency.count == 4
    assert report.elapsed_s == 2.5
    assert report.achieved_tps == 1.2
    assert report.hashes == ("aa", "bb", "cc")


def test_hashes_stay_out_of_the_json_form_unless_asked_for() -> None:
    spec = LoadSpec(target="http://127.0.0.1:1", rate=1, duration_s=1)
    tally = Tally(started=1.0, finished=2.0)
    tally.hashes = ["aa"]
    report = merge(spec, [tally])
    assert "hashes" not in report.to_dict()
    assert report.to_dict(include_hashes=True)["hashes"] == ["aa"]
    assert not report.failed
