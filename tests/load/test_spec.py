from __future__ import annotations

import pytest

from v11ops.load import LoadSpec, LoadSpecError
from v11ops.load.plan import WorkerPlan, split

URL = "http://127.0.0.1:9003"


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("127.0.0.1:9003", r"not an http\(s\) URL"),
        ("ftp://127.0.0.1/", r"not an http\(s\) URL"),
        ("http://", r"not an http\(s\) URL"),
        ("http://127.0.0.1:9003/?x=1", "query or fragment"),
        ("http://10.1.2.3:9003", "not on this machine"),
        ("http://example.com", "not on this machine"),
    ],
)
def test_a_bad_or_remote_target_is_refused_with_what_to_do(target: str, message: str) -> None:
    with pytest.raises(LoadSpecError, match=message):
        LoadSpec(target=target, rate=10, duration_s=1)


@pytest.mark.parametrize("target", ["http://localhost:1", "http://127.0.0.2:1", "http://[::1]:1"])
def test_loopback_targets_are_accepted(target: str) -> None:
    assert LoadSpec(target=target, rate=10, duration_s=1).target == target


def test_a_remote_target_is_allowed_only_when_asked_for() -> None:
    assert LoadSpec(target="http://10.1.2.3:9003", rate=1, duration_s=1, allow_remote=True)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"rate": 0}, "rate"),
        ({"rate": float("nan")}, "rate"),
        ({"duration_s": 0}, "duration"),
        ({"duration_s": 86400}, "duration"),
        ({"batch": 0}, "batch"),
        ({"batch": 1001}, "batch"),
        ({"workers": 3, "accounts": 2}, "accounts"),
        ({"accounts": 10_001}, "development accounts"),
        ({"read_ratio": 1.0}, "read ratio"),
        ({"max_in_flight": 0}, "in flight"),
        ({"timeout_s": 0}, "timeout"),
        ({"rate": 1_000_000, "duration_s": 10}, "signed ahead"),
    ],
)
def test_impossible_options_are_refused(options: dict[str, float], message: str) -> None:
    with pytest.raises(LoadSpecError, match=message):
        LoadSpec(**{"target": URL, "rate": 10, "duration_s": 1, **options})  # type: ignore[arg-type]


def test_rate_and_batch_make_the_number_of_requests() -> None:
    spec = LoadSpec(target=URL, rate=1000, duration_s=2, batch=10)
    assert spec.requests == 200
    assert spec.transactions == 2000


def test_workers_share_accounts_and_requests_without_overlap() -> None:
    spec = LoadSpec(target=URL, rate=100, duration_s=1, accounts=10, workers=3, first_account=5)
    plans = split(spec)
    assert [list(p.accounts) for p in plans] == [
        [5, 6, 7, 8],
        [9, 10, 11],
        [12, 13, 14],
    ]
    assert sum(p.requests for p in plans) == spec.requests


def test_worker_schedules_interleave_into_the_whole_run_schedule() -> None:
    spec = LoadSpec(target=URL, rate=100, duration_s=1, accounts=10, workers=2)
    first, second = split(spec)
    times = sorted([first.slot_time(k) for k in range(3)] + [second.slot_time(k) for k in range(3)])
    assert times == pytest.approx([0.0, 0.01, 0.02, 0.03, 0.04, 0.05])


def test_reads_are_spread_evenly_among_the_slots() -> None:
    kinds = [WorkerPlan.is_read(slot, 0.25) for slot in range(8)]
    assert kinds == [False, False, False, True, False, False, False, True]
    assert not any(WorkerPlan.is_read(slot, 0.0) for slot in range(100))
