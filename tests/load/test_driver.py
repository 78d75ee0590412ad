"""The open-model driver against a fake node: what it sends and how it counts the answers."""

from __future__ import annotations

import asyncio

from tests.load.conftest import StartFake
from tests.load.fake_node import closed_port
from v11ops.load import LoadSpec, run_load, run_load_async


def test_every_transaction_verifies_and_each_sender_stays_in_order(fake_node: StartFake) -> None:
    # Few accounts and a slow node: accounts are reused, and are busy most of the time.
    node, url = fake_node(delay_s=0.01)
    spec = LoadSpec(target=url, rate=400, duration_s=0.5, batch=2, accounts=3)
    report = run_load(spec)
    assert node.bad_signatures == 0
    assert node.nonce_regressions == 0
    assert node.overlaps == 0
    assert report.accepted == len(node.stored) > 0
    assert report.requests + report.errors.get("client_saturated", 0) == spec.requests
    assert set(report.errors) <= {"client_saturated"}


def test_requests_leave_on_schedule_even_when_answers_are_slow(fake_node: StartFake) -> None:
    _, url = fake_node(delay_s=0.2)
    report = run_load(LoadSpec(target=url, rate=100, duration_s=0.5, accounts=100))
    assert report.requests == 50
    assert report.accepted == 50
    assert report.errors == {}


def test_a_stalled_node_makes_the_client_saturate_instead_of_waiting(fake_node: StartFake) -> None:
    _, url = fake_node(stall=True)
    spec = LoadSpec(
        target=url, rate=100, duration_s=0.3, accounts=50, max_in_flight=4, timeout_s=1.5
    )
    report = run_load(spec)
    assert report.requests == 4
    assert report.errors == {"client_saturated": 26, "timeout": 4}
    # An unanswered request may still be queued at the node: its account sends nothing more.
    assert report.retired_accounts == 4
    assert report.failed


def test_answers_are_counted_as_accepted_rejected_or_server_errors(fake_node: StartFake) -> None:
    _, url = fake_node(script=(202, 400, 429, 503, 202))
    report = run_load(LoadSpec(target=url, rate=300, duration_s=0.1, batch=3, accounts=20))
    assert report.requests == 10
    assert report.transactions == 30
    assert report.accepted_requests == 4
    assert report.accepted == 12
    assert report.rejected == {"400": 2, "429": 2}
    assert report.errors == {"5xx": 2}
    assert report.statuses == {"202": 4, "400": 2, "429": 2, "503": 2}
    assert report.latency.count == 10
    assert report.failed


def test_a_refused_connection_is_a_connect_error() -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    report = run_load(LoadSpec(target=url, rate=100, duration_s=0.1, accounts=20))
    assert report.requests == 10
    assert report.errors == {"connect": 10}
    assert report.accepted == 0
    assert report.retired_accounts == 0


def test_every_acknowledged_hash_is_collected_when_asked(fake_node: StartFake) -> None:
    node, url = fake_node(script=(202, 202, 400))
    spec = LoadSpec(target=url, rate=240, duration_s=0.1, batch=4, accounts=20, collect_hashes=True)
    report = run_load(spec)
    assert sorted(report.hashes) == sorted(tx.hash.hex() for tx in node.stored)
    assert len(report.hashes) == report.accepted == 16


def test_the_api_key_goes_with_every_write(fake_node: StartFake) -> None:
    node, url = fake_node()
    run_load(LoadSpec(target=url, rate=100, duration_s=0.1, accounts=20, api_key="s3cret"))
    assert node.api_keys == {"s3cret": 10}


def test_reads_are_mixed_in_without_lowering_the_write_rate(fake_node: StartFake) -> None:
    node, url = fake_node()
    report = run_load(LoadSpec(target=url, rate=100, duration_s=0.1, accounts=20, read_ratio=0.5))
    assert report.requests == 10
    assert report.reads == sum(node.reads.values()) > 0
    assert report.reads_ok == report.reads
    assert set(node.reads) == {"/api/v11/stats", "/api/v11/info"}
    assert report.read_latency.count == report.reads


def test_the_async_api_runs_inside_a_running_event_loop(fake_node: StartFake) -> None:
    _, url = fake_node()
    spec = LoadSpec(target=url, rate=100, duration_s=0.1, accounts=20)
    phases: list[str] = []
    report = asyncio.run(run_load_async(spec, on_phase=phases.append))
    assert report.accepted == 10
    assert phases == ["signing", "sending"]
