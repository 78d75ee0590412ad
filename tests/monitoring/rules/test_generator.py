"""The rule generator: the committed files are its output, the 24 alerts are the seed's with
their `for` durations (the backup alerts have a file of their own), every alert is labelled and
documented, and bad parameters are one line."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner, Result

from tests.docs.markdown import anchors
from tests.monitoring.rules.rulefiles import ALERTS_FILE, ROOT, RULES_DIR, SLO_SPEC, alerts
from v11ops.cli.main import app
from v11ops.monitoring.rules import (
    ParamsError,
    RuleParams,
    load_params,
    load_slo_spec,
    render_rule_files,
)
from v11ops.monitoring.rules.routing import AlertmanagerParams, render_alertmanager_config

# The seed's 18 named alerts, their priority and `for`.
SEED = {
    "V11ServiceDown": ("P0", "1m"),
    "TPSBelowTarget": ("P0", "5m"),
    "HighErrorRate": ("P0", "5m"),
    "ConsensusFailure": ("P0", "1m"),
    "DatabaseConnectionPoolExhausted": ("P0", "2m"),
    "HighCPUUsage": ("P1", "10m"),
    "HighMemoryUsage": ("P1", "10m"),
    "SlowResponseTime": ("P1", "5m"),
    "HighGCTime": ("P1", "5m"),
    "ConsensusLatencyHigh": ("P1", "5m"),
    "UnauthorizedAccessAttempt": ("P1", "5m"),
    "AnomalyDetected": ("P1", "2m"),
    "HighTransactionFailureRate": ("P1", "5m"),
    "HighDiskUsage": ("P2", "15m"),
    "HighNetworkTraffic": ("P2", "10m"),
    "ValidatorNodeDown": ("P2", "5m"),
    "TransactionPoolFull": ("P2", "5m"),
    "LowTransactionVolume": ("P2", "30m"),
}
SEVERITY = {"P0": "critical", "P1": "warning", "P2": "info"}
# Backup and DR alerts (issue 7), in aurigraph-backup.yml apart from the 24.
BACKUP = {
    "BackupStale",
    "BackupVeryStale",
    "BackupUnverified",
    "RestoreDrillStale",
    "RestoreDrillTooSlow",
    "BackupCorrupt",
    "WalArchiveStale",
    "BackupMetricsMissing",
}


def _committed_rules() -> dict[str, str]:
    return render_rule_files(RuleParams(), load_slo_spec(SLO_SPEC))


def test_the_committed_rule_files_are_the_generators_output() -> None:
    for name, text in _committed_rules().items():
        assert (RULES_DIR / name).read_text() == text, (
            f"run `v11ops monitoring rules render` ({name})"
        )
    assert sorted(p.name for p in RULES_DIR.glob("*.yml")) == sorted(_committed_rules())


def test_the_committed_alertmanager_config_is_the_generators_output() -> None:
    committed = (ROOT / "monitoring" / "alertmanager" / "alertmanager.yml").read_text()
    assert committed == render_alertmanager_config(AlertmanagerParams())


def test_the_24_alerts_are_the_seeds_18_with_their_for_and_6_more_by_priority() -> None:
    rules = alerts([ALERTS_FILE])
    assert len(rules) == 24
    assert {
        r["alert"]: (r["labels"]["priority"], r["for"]) for r in rules if r["alert"] in SEED
    } == SEED
    counts = {p: sum(r["labels"]["priority"] == p for r in rules) for p in SEVERITY}
    assert counts == {"P0": 5, "P1": 10, "P2": 9}
    assert all(r["labels"]["severity"] == SEVERITY[r["labels"]["priority"]] for r in rules)


def test_every_alert_is_labelled_and_documented() -> None:
    for rule in alerts():
        labels, notes = rule["labels"], rule["annotations"]
        assert labels["severity"] in {"critical", "warning", "info"}, rule["alert"]
        assert labels["priority"] in {"P0", "P1", "P2"}, rule["alert"]
        assert set(notes) == {"summary", "description", "runbook_url"}, rule["alert"]
        assert "$value" in notes["description"], rule["alert"]
        if rule["alert"] != "Watchdog":  # about the pipeline, not about a target
            assert "$labels." in notes["description"], rule["alert"]
        assert "{{" not in notes["summary"], f"{rule['alert']}: the summary is static"


def test_every_alert_has_a_justification_comment_above_it() -> None:
    for path in RULES_DIR.glob("*.yml"):
        lines = path.read_text().splitlines()
        for i, line in enumerate(lines):
            if line.strip().startswith("- alert:"):
                assert lines[i - 1].strip().startswith("#"), f"{path.name}: {line.strip()}"


def test_every_runbook_url_is_a_section_of_the_runbook() -> None:
    runbook = ROOT / "docs" / "runbook.md"
    sections = anchors(runbook)
    for rule in alerts():
        page, _, anchor = rule["annotations"]["runbook_url"].partition("#")
        assert page == "docs/runbook.md"
        assert anchor in sections, f"{rule['alert']}: no section #{anchor} in docs/runbook.md"


def test_every_parameter_is_documented_with_its_default() -> None:
    runbook = (ROOT / "docs" / "runbook.md").read_text()
    for name, info in RuleParams.model_fields.items():
        assert info.description, f"RuleParams.{name} has no description"
        assert f"`{name}`" in runbook, f"RuleParams.{name} is not in the runbook's table"


def test_parameters_reach_the_rules() -> None:
    params = RuleParams(tps_target=2500, for_override="1s", disabled_alerts=("HighGCTime",))
    text = render_rule_files(params, load_slo_spec(SLO_SPEC))["aurigraph-alerts.yml"]
    rules = yaml.safe_load(text)["groups"]
    by_name = {r["alert"]: r for g in rules for r in g["rules"] if "alert" in r}
    assert "< 2500" in by_name["TPSBelowTarget"]["expr"]
    assert {r["for"] for r in by_name.values()} == {"1s"}
    assert "HighGCTime" not in by_name and len(by_name) == 23


def test_the_backup_alerts_are_a_file_of_their_own_with_their_parameters() -> None:
    params = RuleParams(backup_max_age_hours=6, disabled_alerts=("BackupCorrupt",))
    files = render_rule_files(params, load_slo_spec(SLO_SPEC))
    [group] = yaml.safe_load(files["aurigraph-backup.yml"])["groups"]
    by_name = {r["alert"]: r for r in group["rules"]}
    assert set(by_name) == BACKUP - {"BackupCorrupt"}
    assert by_name["BackupStale"]["expr"].endswith("> 6 * 3600")
    assert "BackupStale" not in files["aurigraph-alerts.yml"]


def test_an_unknown_disabled_alert_is_an_error() -> None:
    with pytest.raises(ParamsError, match="no alert named HighGcTime"):
        render_rule_files(RuleParams(disabled_alerts=("HighGcTime",)), load_slo_spec(SLO_SPEC))


def test_a_params_file_is_read_and_checked(tmp_path: Path) -> None:
    good = tmp_path / "params.yml"
    good.write_text("tps_target: 400\ncpu_percent: 70\n")
    assert load_params(good).tps_target == 400
    bad = tmp_path / "bad.yml"
    bad.write_text("tps_target: -1\n")
    with pytest.raises(ParamsError, match=r"bad.yml: tps_target: .*greater than 0"):
        load_params(bad)


def test_the_slo_spec_needs_the_window_placeholder(tmp_path: Path) -> None:
    spec = yaml.safe_load(SLO_SPEC.read_text())
    spec["slos"][0]["total"] = "sum(rate(x[5m]))"
    path = tmp_path / "slo.yaml"
    path.write_text(yaml.safe_dump(spec))
    with pytest.raises(ParamsError, match=r"slos.0.total: .*must use \$\{window\}"):
        load_slo_spec(path)


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch) -> Callable[..., Result]:
    """`v11ops ...` in-process, from the repository's root (where the default paths point)."""
    monkeypatch.chdir(ROOT)
    return lambda *args: CliRunner().invoke(app, list(args))


def test_render_check_passes_on_the_committed_files(cli: Callable[..., Result]) -> None:
    for command in (["rules"], ["alertmanager"]):
        result = cli("monitoring", *command, "render", "--check")
        assert result.exit_code == 0, result.output


def test_render_writes_files_that_check_then_accepts(
    cli: Callable[..., Result], tmp_path: Path
) -> None:
    out = tmp_path / "rules"
    rendered = cli("monitoring", "rules", "render", "--out", str(out), "--set", "tps_target=50")
    assert rendered.exit_code == 0, rendered.output
    assert "< 50\n" in (out / "aurigraph-alerts.yml").read_text()
    stale = cli("monitoring", "rules", "render", "--out", str(out), "--check")
    assert stale.exit_code == 1
    assert "out of date:" in stale.stdout and "aurigraph-alerts.yml" in stale.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["rules", "render", "--set", "tps_target=fast"], "--set: tps_target: "),
        (["rules", "render", "--set", "no_such=1"], "--set: no_such: "),
        (["rules", "render", "--set", "tps_target"], "expected NAME=VALUE"),
        (["rules", "render", "--slo", "missing.yaml"], "missing.yaml: cannot read the SLO spec"),
        (["alertmanager", "render", "--set", "pager.url=ftp://x"], "--set: pager.url: "),
    ],
)
def test_bad_parameters_are_one_line_and_exit_2(
    cli: Callable[..., Result], args: list[str], message: str, tmp_path: Path
) -> None:
    result = cli("monitoring", *args, "--out", str(tmp_path / "out"))
    assert result.exit_code == 2
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()
