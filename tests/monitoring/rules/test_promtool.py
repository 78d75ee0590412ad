"""promtool checks the rule files and runs their unit tests; every alert has both a firing and
a quiet test case."""

from __future__ import annotations

import subprocess
from collections import defaultdict
from pathlib import Path

import yaml

from tests.monitoring.rules.rulefiles import RULES_DIR, TESTS_DIR, alerts
from tests.support.services import require_binary

# Always fires by design: it has no quiet case.
ALWAYS_FIRING = {"Watchdog"}


def _promtool(*args: str) -> subprocess.CompletedProcess[str]:
    promtool = require_binary("promtool")
    return subprocess.run([promtool, *args], capture_output=True, text=True, timeout=120)


def test_promtool_accepts_the_rule_files() -> None:
    result = _promtool("check", "rules", *map(str, sorted(RULES_DIR.glob("*.yml"))))
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_unit_tests_pass() -> None:
    result = _promtool("test", "rules", *map(str, sorted(TESTS_DIR.glob("*.test.yml"))))
    assert result.returncode == 0, result.stdout + result.stderr


def case_kinds(test_files: list[Path]) -> dict[str, set[str]]:
    """alertname -> {"firing", "quiet"}: the kinds of test cases it has."""
    kinds: dict[str, set[str]] = defaultdict(set)
    for path in test_files:
        for group in yaml.safe_load(path.read_text())["tests"]:
            for case in group.get("alert_rule_test", []):
                kinds[case["alertname"]].add("firing" if case.get("exp_alerts") else "quiet")
    return kinds


def test_every_alert_has_a_firing_and_a_quiet_test_case() -> None:
    kinds = case_kinds(sorted(TESTS_DIR.glob("*.test.yml")))
    missing = {
        a["alert"]: sorted({"firing", "quiet"} - kinds.get(a["alert"], set()))
        for a in alerts()
        if {"firing", "quiet"} - kinds.get(a["alert"], set())
    }
    assert {name: gaps for name, gaps in missing.items() if name not in ALWAYS_FIRING} == {}
    assert "firing" in kinds["Watchdog"]


def test_the_completeness_check_notices_an_untested_alert(tmp_path: Path) -> None:
    partial = tmp_path / "partial.test.yml"
    partial.write_text(
        yaml.safe_dump(
            {"tests": [{"alert_rule_test": [{"alertname": "V11ServiceDown", "eval_time": "1m"}]}]}
        )
    )
    kinds = case_kinds([partial])
    assert kinds["V11ServiceDown"] == {"quiet"}
    assert "HighErrorRate" not in kinds


def test_every_test_file_loads_rule_files_that_exist() -> None:
    for path in TESTS_DIR.glob("*.test.yml"):
        for rule_file in yaml.safe_load(path.read_text())["rule_files"]:
            assert (path.parent / rule_file).is_file(), f"{path.name}: {rule_file}"
