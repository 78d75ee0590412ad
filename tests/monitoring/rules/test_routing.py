"""The committed Alertmanager config: amtool accepts it, and every severity/priority pair (and
the Watchdog, and alerts without a priority) reaches the receiver the routing cases name."""

from __future__ import annotations

import itertools
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.monitoring.rules.rulefiles import ROOT
from tests.support.services import require_binary
from v11ops.monitoring.rules import ParamsError
from v11ops.monitoring.rules.params import load_model
from v11ops.monitoring.rules.routing import AlertmanagerParams, render_alertmanager_config

CONFIG = ROOT / "monitoring" / "alertmanager" / "alertmanager.yml"
CASES: list[dict[str, Any]] = yaml.safe_load(
    (ROOT / "monitoring" / "alertmanager" / "tests" / "routes.yml").read_text()
)["cases"]


def _amtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [require_binary("amtool"), *args], capture_output=True, text=True, timeout=60
    )


def test_amtool_accepts_the_config_and_its_templates() -> None:
    result = _amtool("check-config", str(CONFIG))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 templates" in result.stdout


@pytest.mark.parametrize(
    "case", CASES, ids=lambda c: ",".join(f"{k}={v}" for k, v in c["labels"].items())
)
def test_each_routing_case_reaches_its_receivers(case: dict[str, Any]) -> None:
    labels = [f"{k}={v}" for k, v in case["labels"].items()]
    expected = ",".join(case["receivers"])
    result = _amtool(
        "config", "routes", "test", f"--config.file={CONFIG}",
        f"--verify.receivers={expected}", *labels,
    )  # fmt: skip
    assert result.returncode == 0, f"expected {expected}, got {result.stdout.strip()}"


def test_the_routing_cases_cover_every_severity_and_priority_pair() -> None:
    pairs = {(c["labels"].get("severity"), c["labels"].get("priority")) for c in CASES}
    every = set(itertools.product(["critical", "warning", "info"], ["P0", "P1", "P2"]))
    assert every - pairs == set()


def test_the_priority_decides_the_receiver_whatever_the_severity() -> None:
    by_priority = {"P0": ["pager"], "P1": ["chat"], "P2": ["ticket"]}
    for case in CASES:
        priority = case["labels"].get("priority")
        if priority in by_priority and case["labels"]["alertname"] != "Watchdog":
            assert case["receivers"] == by_priority[priority], case


def test_a_wrong_expectation_fails_the_route_test() -> None:
    result = _amtool(
        "config", "routes", "test", f"--config.file={CONFIG}", "--verify.receivers=chat",
        "alertname=X", "severity=critical", "priority=P0",
    )  # fmt: skip
    assert result.returncode != 0


def test_a_receivers_file_changes_only_what_it_names(tmp_path: Path) -> None:
    path = tmp_path / "receivers.yaml"
    path.write_text("pager:\n  url: https://pager.example/hook\nticket:\n  to: ops@example.org\n")
    params = load_model(AlertmanagerParams, path, {"chat.api_url": None, "chat.api_url_file": "/s"})
    defaults = AlertmanagerParams()
    assert params.pager.url == "https://pager.example/hook"
    assert params.pager.timing == defaults.pager.timing
    assert params.ticket.to == "ops@example.org" and params.ticket.sender == defaults.ticket.sender
    assert (params.chat.api_url, params.chat.api_url_file) == (None, "/s")
    config = yaml.safe_load(render_alertmanager_config(params))
    receivers = {r["name"]: r for r in config["receivers"]}
    assert receivers["pager"]["webhook_configs"][0]["url"] == "https://pager.example/hook"
    assert receivers["chat"]["slack_configs"][0]["api_url_file"] == "/s"


def test_a_chat_receiver_needs_exactly_one_url() -> None:
    with pytest.raises(ParamsError, match=r"chat: .*set one of api_url and api_url_file"):
        load_model(AlertmanagerParams, None, {"chat.api_url_file": "/s"})
