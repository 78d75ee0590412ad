"""`v11ops load` as a user and a script see it."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from tests.load.conftest import StartFake
from tests.load.fake_node import closed_port
from v11ops.cli.main import app

runner = CliRunner()

REPORT_KEYS = {
    "target", "workers", "batch", "offered_tps", "duration_s", "elapsed_s", "sent_tps",
    "achieved_tps", "achieved_rps", "requests", "transactions", "accepted_requests", "accepted",
    "rejected", "errors", "statuses", "latency", "reads", "reads_ok", "read_latency",
    "schedule_lag", "signed_ahead", "signed_late", "retired_accounts",
}  # fmt: skip
LATENCY_KEYS = {"count", "p50_ms", "p95_ms", "p99_ms", "max_ms"}


def test_json_output_is_the_report_for_scripts(fake_node: StartFake) -> None:
    _, url = fake_node(script=(202, 429))
    args = ["load", "--target", url, "--rate", "200", "--duration", "0.1", "--batch", "2"]
    result = runner.invoke(app, [*args, "--accounts", "20", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert set(report) == REPORT_KEYS
    assert set(report["latency"]) == LATENCY_KEYS
    assert report["requests"] == 10
    assert report["accepted"] == 10
    assert report["rejected"] == {"429": 5}
    assert report["errors"] == {}


def test_the_table_shows_achieved_rate_and_latency(fake_node: StartFake) -> None:
    _, url = fake_node()
    result = runner.invoke(
        app, ["load", "--target", url, "--rate", "100", "--duration", "0.1", "--accounts", "20"]
    )
    assert result.exit_code == 0, result.output
    for figure in ("offered", "achieved", "accepted", "rejected", "errors", "latency", "p99"):
        assert figure in result.stdout


def test_failed_requests_make_the_exit_code_1() -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    result = runner.invoke(
        app, ["load", "--target", url, "--rate", "50", "--duration", "0.1", "--json"]
    )
    assert result.exit_code == 1
    assert json.loads(result.stdout)["errors"] == {"connect": 5}


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--target", "not-a-url"], "target"),
        (["--target", "http://192.0.2.7:9003"], "--allow-remote"),
        (["--target", "http://127.0.0.1:9003", "--batch", "0"], "batch"),
        (["--target", "http://127.0.0.1:9003", "--read-ratio", "2"], "read ratio"),
    ],
)
def test_a_bad_target_or_option_is_one_line_and_exit_2(args: list[str], named: str) -> None:
    result = runner.invoke(app, ["load", "--rate", "10", "--duration", "1", *args])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error:")
    assert named in lines[0]
    assert result.stdout == ""
