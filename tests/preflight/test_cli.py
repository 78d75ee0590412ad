"""`v11ops preflight`: a table for people, JSON for scripts, exit 0 / 1 / 2."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from tests.deploy_artifacts.certs import write_self_signed
from tests.preflight.conftest import StartPrometheus, write_backup, write_gate
from v11ops.cli import preflight as preflight_cli
from v11ops.config import Config
from v11ops.preflight import CHECKS

app = typer.Typer()
preflight_cli.register(app)
app.callback()(lambda: None)  # keep `preflight` a subcommand, as under `v11ops`

LENIENT_DISK = ["--min-free-gib", "0", "--min-free-percent", "0"]


@pytest.fixture
def ready(config: Config, tmp_path: Path, prometheus: StartPrometheus) -> list[str]:
    """Arguments under which every check passes: gate, backup, certificate, Prometheus."""
    now = datetime.now(UTC)
    gate = write_gate(tmp_path / "reports" / "gate.json")
    write_backup(config, "nightly", now - timedelta(hours=1))
    cert, _ = write_self_signed(tmp_path / "tls")
    return [
        "--file", str(config.source), "--version", "1.1.0", "--gate-report", str(gate),
        "--tls-cert", str(cert), "--prometheus-url", prometheus(200), *LENIENT_DISK,
    ]  # fmt: skip


def _run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["preflight", *args], env={"COLUMNS": "200"})
    return result.exit_code, result.stdout, result.stderr


def test_everything_in_order_passes_and_exits_0(ready: list[str]) -> None:
    code, out, _ = _run(*ready)
    assert code == 0, out
    assert out.count("PASS") == len(CHECKS)
    assert "ready to deploy" in out and "release 1.1.0" in out


def test_json_lists_every_check_with_its_status_reason_and_details(ready: list[str]) -> None:
    code, out, _ = _run(*ready, "--json")
    report = json.loads(out)
    assert code == 0 and report["ok"] is True
    assert set(report) == {"ok", "config", "version", "checked_at", "counts", "checks"}
    assert report["counts"] == {"pass": len(CHECKS), "fail": 0, "skip": 0}
    assert [c["name"] for c in report["checks"]] == [name for name, _, _ in CHECKS]
    for check in report["checks"]:
        assert set(check) == {"name", "title", "status", "reason", "details"}


def test_a_failed_check_exits_1_and_the_table_says_why(ready: list[str]) -> None:
    code, out, _ = _run(*[a if a != "1.1.0" else "9.9.9" for a in ready])
    assert code == 1
    assert "FAIL" in out and "unknown release '9.9.9'" in out
    assert "not ready to deploy" in out


def test_a_bare_config_fails_on_the_gate_and_the_backup_and_skips_the_rest(
    config: Config, tmp_path: Path
) -> None:
    code, out, _ = _run(
        "--file", str(config.source), "--json", "--gate-report", str(tmp_path / "none.json"),
        *LENIENT_DISK,
    )  # fmt: skip
    statuses = {c["name"]: c["status"] for c in json.loads(out)["checks"]}
    assert code == 1
    assert statuses == {
        "gate": "fail", "backup": "fail", "tls": "skip", "monitoring": "skip",
        "disk": "pass", "release": "skip", "deploy_lock": "pass",
    }  # fmt: skip


def test_skip_gate_turns_the_gate_into_a_skip(config: Config) -> None:
    _, out, _ = _run("--file", str(config.source), "--json", "--skip-gate", *LENIENT_DISK)
    gate = json.loads(out)["checks"][0]
    assert gate["status"] == "skip" and gate["reason"] == "skipped by --skip-gate"


def test_prometheus_url_comes_from_the_environment(config: Config) -> None:
    result = CliRunner().invoke(
        app,
        ["preflight", "--file", str(config.source), "--json", "--skip-gate"],
        env={"V11OPS_PROMETHEUS_URL": "http://127.0.0.1:9/"},
    )
    monitoring = json.loads(result.stdout)["checks"][3]
    assert monitoring["name"] == "monitoring" and monitoring["status"] == "fail"


def test_a_broken_config_is_one_line_and_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "v11ops.yaml"
    bad.write_text("service: [\n")
    code, out, err = _run("--file", str(bad))
    assert code == 2
    assert err.startswith("error: ") and "YAML syntax error" in err and len(err.splitlines()) == 1
    assert out == ""


def test_a_missing_config_exits_2(tmp_path: Path) -> None:
    code, _, err = _run("--file", str(tmp_path / "nope.yaml"))
    assert code == 2 and "no such file" in err


def test_the_v11ops_command_has_preflight(config: Config) -> None:
    # The top-level command is wired in v11ops.cli.main; a bad option value is a usage error.
    from v11ops.cli.main import app as v11ops_app

    args = ["preflight", "--file", str(config.source), "--min-free-percent", "101"]
    result = CliRunner().invoke(v11ops_app, args)
    assert result.exit_code == 2
    assert "--min-free-percent" in result.stderr
