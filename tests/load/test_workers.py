"""Several load processes: each signs for its own accounts, results merge into one report."""

from __future__ import annotations

import queue
import time
from dataclasses import dataclass

import pytest

from tests.load.conftest import StartFake
from v11ops.load import LoadError, LoadSpec, run_load
from v11ops.load.plan import split
from v11ops.load.tally import Tally
from v11ops.load.workers import _collect, _wait_ready


def test_workers_send_from_disjoint_accounts_and_merge_their_counts(fake_node: StartFake) -> None:
    node, url = fake_node()
    spec = LoadSpec(
        target=url, rate=200, duration_s=0.5, batch=2, accounts=50, workers=2, collect_hashes=True
    )
    phases: list[str] = []
    report = run_load(spec, on_phase=phases.append)
    assert phases == ["signing", "sending"]
    assert report.workers == 2
    assert report.requests == 50
    assert report.accepted == 100 == len(node.stored)
    assert report.errors == {}
    assert node.bad_signatures == node.nonce_regressions == node.overlaps == 0
    assert len({tx.sender for tx in node.stored}) == 50
    assert len(set(report.hashes)) == 100


@dataclass
class _Process:
    name: str
    exitcode: int | None = None


def test_a_worker_that_fails_before_the_start_stops_the_run_with_its_reason() -> None:
    messages: queue.Queue[tuple[str, int, object]] = queue.Queue()
    messages.put(("ready", 0, None))
    messages.put(("error", 1, "ValueError: boom"))
    with pytest.raises(LoadError, match="worker 1 failed before the start: ValueError: boom"):
        _wait_ready(messages, [_Process("a"), _Process("b")], time.monotonic() + 60)


def test_a_worker_that_dies_while_signing_stops_the_run() -> None:
    with pytest.raises(LoadError, match="v11ops-load-1 exited before the start"):
        _wait_ready(
            queue.Queue(),
            [_Process("v11ops-load-0"), _Process("v11ops-load-1", exitcode=-9)],
            time.monotonic() + 60,
        )


def test_a_worker_that_never_reports_counts_its_requests_as_lost() -> None:
    spec = LoadSpec(target="http://127.0.0.1:1", rate=100, duration_s=1, accounts=4, workers=2)
    first, second = split(spec)
    messages: queue.Queue[tuple[str, int, object]] = queue.Queue()
    messages.put(("tally", 0, Tally(requests=50)))
    tallies = _collect(messages, [first, second], deadline=time.monotonic() - 60)
    assert tallies[0].requests == 50
    assert tallies[1].errors == {"worker_lost": second.requests}


def test_workers_still_signing_at_the_deadline_stop_the_run_with_advice() -> None:
    with pytest.raises(LoadError, match="did not finish signing in time: lower --rate or"):
        _wait_ready(queue.Queue(), [_Process("v11ops-load-0")], time.monotonic() - 1)
