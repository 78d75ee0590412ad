"""`v11ops analysis test`: backtest the configured templates against what Prometheus recorded."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from tests.analysis.prometheus import PrometheusServer
from tests.analysis.test_prometheus_provider import ERROR_RATIO, REQUESTS
from tests.router.harness import closed_port
from v11ops.cli.main import app
from v11ops.config import DEFAULT_CONFIG_YAML

runner = CliRunner()

CANARY = {
    "description": "what the canary of the tests would have been judged by",
    "checks": [
        {
            "name": "error-ratio", "kind": "prometheus", "query": ERROR_RATIO,
            "samples_query": REQUESTS, "min_samples": 5, "success_condition": "result <= 0.02",
            "interval_s": 1,
        },
        {"name": "router-errors", "kind": "router", "metric": "error_rate",
         "success_condition": "result <= 0.02"},
    ],
}  # fmt: skip


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    data = yaml.safe_load(DEFAULT_CONFIG_YAML)
    data["analysis"] = {"canary": CANARY}
    path = tmp_path / "v11ops.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.fixture
def recorded(prometheus: PrometheusServer) -> PrometheusServer:
    """Prometheus with at least 8 s of every slot's traffic behind it."""
    prometheus.wait_for('count(count_over_time(up{job="slots"}[12s]) >= 10) == 4')
    return prometheus


def backtest(config: Path, *args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["analysis", "test", "-f", str(config), *args])
    return result.exit_code, result.stdout, result.stderr


def test_a_recorded_window_of_an_erroring_candidate_would_have_failed(
    recorded: PrometheusServer, config_file: Path
) -> None:
    code, out, err = backtest(
        config_file, "--from", "-8s", "--to", "now", "--template", "canary",
        "--candidate-slot", "red", "--prometheus", recorded.url, "--json",
    )  # fmt: skip
    assert code == 0, err
    report = json.loads(out)["templates"]["canary"]
    assert report["phase"] == "failed"
    prom, router = report["checks"]
    assert prom["phase"] == "failed"
    assert 'slot="red"' in prom["query"]
    assert len(prom["points"]) >= 8  # one per second of the window (interval_s 1)
    judged = [p for p in prom["points"] if p["verdict"] == "failed"]
    assert judged, prom["points"]
    first = judged[0]
    assert first["samples"] >= 5
    # Half of red's requests fail at random: the share is 0.5 within 4 standard deviations of a
    # binomial share of that many requests (few of them on a loaded machine).
    assert abs(first["value"] - 0.5) <= 4 * math.sqrt(0.25 / first["samples"])
    assert prom["reason"].startswith(f"result {judged[0]['value']:.4g} breaks the success")
    assert prom["decided_at"] == judged[0]["at"]
    assert router["phase"] == "not backtestable"
    assert router["reason"] == (
        "it reads the router's live counters, which Prometheus does not keep per check"
    )


def test_the_table_shows_every_point_of_a_good_candidate(
    recorded: PrometheusServer, config_file: Path
) -> None:
    start = (datetime.now(UTC) - timedelta(seconds=6)).isoformat().replace("+00:00", "Z")
    code, out, err = backtest(
        config_file, "--from", start, "--step", "2s", "--template", "canary",
        "--candidate-slot", "green", "--prometheus", recorded.url,
    )  # fmt: skip
    assert code == 0, err
    assert "template canary: successful" in out
    assert "error-ratio (prometheus): successful" in out
    assert "router-errors (router): not backtestable: it reads the router's live" in out
    assert out.count("meets 'result <= 0.02'") >= 3  # 6 s at a 2 s step


def test_prometheus_down_is_reported_and_exits_1(config_file: Path) -> None:
    down = f"http://127.0.0.1:{closed_port()}"
    code, out, _ = backtest(
        config_file, "--from", "-1m", "--template", "canary", "--candidate-slot", "green",
        "--prometheus", down, "--json",
    )  # fmt: skip
    assert code == 1
    prom = json.loads(out)["templates"]["canary"]["checks"][0]
    assert prom["phase"] == "error"
    assert prom["reason"].startswith(f"cannot reach Prometheus at {down}")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--from", "yesterday"],
         "error: --from 'yesterday': expected an RFC 3339 time with a zone"),
        (["--from", "2024-05-01T12:00:00"], "expected an RFC 3339 time with a zone"),
        (["--from", "-1m", "--to", "-2m"], "error: --from must be before --to"),
        (["--from", "-1m", "--step", "soon"], "error: --step 'soon': expected a positive duration"),
        (["--from", "-1m", "--template", "nope"],
         "error: unknown template 'nope' (templates: error-rate, latency, latency-vs-baseline, "
         "canary)"),
        (["--from", "-1m", "--template", "canary"],
         "error: check error-ratio of template canary uses {{candidate.slot}}: give "
         "--candidate-slot"),
        (["--from", "-30d", "--step", "1s", "--template", "canary", "--candidate-slot", "x"],
         "evaluation points (more than 11000); use a larger --step or a shorter window"),
    ],
)  # fmt: skip
def test_usage_mistakes_are_one_line_and_exit_2(
    config_file: Path, args: list[str], message: str
) -> None:
    code, out, err = backtest(config_file, *args)
    assert code == 2
    assert message in err
    assert err.count("\n") == 1
    assert out == ""
