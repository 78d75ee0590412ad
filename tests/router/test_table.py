from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from v11ops.router import RouterError, RouterStats, RouteTable, RouteTableError, Target, TargetStats
from v11ops.router.balancer import Balancer
from v11ops.router.stats import LATENCY_BUCKETS
from v11ops.router.store import load_table, save_table


class Slot:
    def __init__(self, name: str) -> None:
        self.name = name
        self.draining = False
        self.ejected = False

    @property
    def ejected_until(self) -> float:
        return 1.0 if self.ejected else 0.0

    def is_ejected(self) -> bool:
        return self.ejected


def test_route_table_round_trips_through_json() -> None:
    table = RouteTable(
        (Target("blue", "http://127.0.0.1:9003", 90, "1.0"), Target("green", "http://x:9004", 10)),
        sticky_cookie="session",
    )
    again = RouteTable.from_json(json.loads(json.dumps(table.to_json())))
    assert again == table
    assert [t.name for t in again.active] == ["blue", "green"]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([], "must be a JSON object"),
        ({}, "'targets' must be a list"),
        ({"targets": [], "weights": 1}, "unknown field 'weights'"),
        ({"targets": [{"name": "blue", "url": "https://h:1"}]}, "expected http://HOST:PORT"),
        ({"targets": [{"name": "blue", "url": "http://h"}]}, "expected http://HOST:PORT"),
        ({"targets": [{"name": "blue", "url": "http://h:1/api"}]}, "must not have a path"),
        ({"targets": [{"name": "blue", "url": "http://h:1", "weight": -1}]}, "between 0 and"),
        ({"targets": [{"name": "blue", "url": "http://h:1", "weight": "9"}]}, "integer"),
        ({"targets": [{"name": "blue", "url": "http://h:1", "weight": True}]}, "integer"),
        ({"targets": [{"name": "b l", "url": "http://h:1"}]}, "letters, digits"),
        ({"targets": [{"name": "a", "url": "http://h:1"}, {"name": "a", "url": "http://h:2"}]},
         "appears twice"),
        ({"targets": [{"name": "a", "url": "http://h:1"}, {"name": "b", "url": "http://h:1"}]},
         "appears twice"),
        ({"targets": [], "sticky_header": "a b"}, "not a valid HTTP header"),
        ({"targets": [], "sticky_header": "a", "sticky_cookie": "b"}, "at most one"),
    ],
)  # fmt: skip
def test_invalid_route_tables_are_rejected_with_a_message_naming_the_problem(
    data: object, message: str
) -> None:
    with pytest.raises(RouteTableError, match=message):
        RouteTable.from_json(data)


def test_smooth_weighted_round_robin_is_exact_per_request() -> None:
    blue, green = Slot("blue"), Slot("green")
    balancer = Balancer([(blue, 90), (green, 10)])
    picks = [balancer.pick() for _ in range(100)]
    assert picks.count(green) == 10
    # Not bunched: every run of 10 consecutive requests has exactly one canary request.
    for start in range(0, 100, 10):
        assert picks[start : start + 10].count(green) == 1


def test_balancer_skips_draining_and_ejected_targets_but_fails_open_on_ejection() -> None:
    blue, green = Slot("blue"), Slot("green")
    balancer = Balancer([(blue, 50), (green, 50)])
    blue.draining = True
    assert {balancer.pick() for _ in range(10)} == {green}
    blue.draining, green.ejected = False, True
    assert {balancer.pick() for _ in range(10)} == {blue}
    blue.ejected = True  # everything ejected: trying beats refusing
    assert balancer.pick() is not None
    blue.draining = green.draining = True
    assert balancer.pick() is None
    assert Balancer([(blue, 0)]).pick() is None


def test_sticky_key_always_maps_to_the_same_target_in_proportion_to_weights() -> None:
    blue, green = Slot("blue"), Slot("green")
    balancer = Balancer([(blue, 80), (green, 20)])
    keys = [f"user-{i}".encode() for i in range(2000)]
    first = [balancer.pick_sticky(k) for k in keys]
    assert first == [balancer.pick_sticky(k) for k in keys]
    share = Counter(t.name for t in first if t is not None)["green"] / len(keys)
    assert 0.15 < share < 0.25
    green.draining = True
    assert {balancer.pick_sticky(k) for k in keys[:50]} == {blue}


def test_state_file_is_replaced_atomically_and_restored(tmp_path: Path) -> None:
    path = tmp_path / "state" / "router.json"
    assert load_table(path) is None
    table = RouteTable((Target("blue", "http://127.0.0.1:9003", 100, "1"),), revision=4)
    save_table(path, table)
    assert load_table(path) == table
    assert [p.name for p in path.parent.iterdir()] == ["router.json"]  # no temp file left
    assert path.stat().st_mode & 0o777 == 0o600


def test_a_corrupt_state_file_is_reported_with_what_to_do(tmp_path: Path) -> None:
    path = tmp_path / "router.json"
    path.write_text("{not json")
    with pytest.raises(RouterError, match="fix or remove it"):
        load_table(path)


def _stats(requests: int, codes: dict[str, int], buckets: list[int]) -> TargetStats:
    full = buckets + [0] * (len(LATENCY_BUCKETS) + 1 - len(buckets))
    return TargetStats(
        target="http://127.0.0.1:9004",
        slot="green",
        version="2",
        requests=requests,
        codes=codes,
        latency_count=sum(full),
        latency_buckets=tuple(full),
    )


def test_stats_since_gives_the_window_between_two_snapshots() -> None:
    before = RouterStats(1, 1, 0, 1.0, (_stats(100, {"200": 100}, [100]),))
    after = RouterStats(2, 2, 0, 9.0, (_stats(300, {"200": 190, "503": 10}, [100, 0, 200]),))
    window = after.since(before).slot("green")
    assert window.requests == 200
    assert window.responses_5xx == 10
    assert window.error_rate == pytest.approx(0.05)
    # All 200 window requests fall in the (0.001, 0.0025] bucket.
    p99 = window.latency_quantile(0.99)
    assert p99 is not None and 0.001 < p99 <= 0.0025
    assert _stats(0, {}, []).latency_quantile(0.5) is None
    assert _stats(0, {}, []).error_rate is None


def test_stats_json_round_trips() -> None:
    stats = RouterStats(3, 2, 1, 5.0, (_stats(10, {"200": 9, "502": 1}, [5, 5]),), unrouted=2)
    assert RouterStats.from_json(json.loads(json.dumps(stats.to_json()))) == stats
