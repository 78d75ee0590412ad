"""The generated dashboards: committed as rendered, complete panels, provisioning that finds
them and the datasource they reference."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from v11ops.cli.monitoring import app
from v11ops.monitoring.dashboards import DATASOURCE_UID, FOLDER, render
from v11ops.monitoring.rules.params import RuleParams

REPO = Path(__file__).resolve().parents[3]
GRAFANA = REPO / "monitoring" / "grafana"
COMPOSE = REPO / "monitoring" / "docker-compose-monitoring.yml"
RULES = REPO / "monitoring" / "prometheus" / "rules"
SEED_BUILT = {"v11-system-health.json", "v11-application.json"}


def _boards() -> dict[str, dict[str, Any]]:
    return {name: json.loads(text) for name, text in render().items()}


def _panels() -> list[tuple[str, dict[str, Any]]]:
    return [(name, panel) for name, board in _boards().items() for panel in board["panels"]]


def _grafana_mounts() -> dict[str, str]:
    """Container path -> repo path of the Grafana service's bind mounts."""
    grafana = yaml.safe_load(COMPOSE.read_text())["services"]["grafana"]
    mounts = [v.split(":") for v in grafana["volumes"] if v.startswith("./")]
    return {target: str((COMPOSE.parent / source).resolve()) for source, target, *_ in mounts}


def test_the_committed_dashboards_are_what_the_generator_renders() -> None:
    committed = {p.name: p.read_text() for p in (GRAFANA / "dashboards").glob("*.json")}
    assert committed == render(), "run `v11ops monitoring dashboards render`"


def test_there_are_five_dashboards_with_unique_uids_refreshing_every_5_s() -> None:
    boards = _boards()
    assert len(boards) == 5
    assert {b["uid"] for b in boards.values()} == {name.removesuffix(".json") for name in boards}
    assert {b["refresh"] for b in boards.values()} == {"5s"}
    titles = {b["title"].split(" / ")[1] for b in boards.values()}
    assert titles == {"System Health", "Application Metrics", "Blockchain", "Security", "Business"}


def test_the_two_dashboards_the_seed_built_have_its_ten_panels() -> None:
    for name in SEED_BUILT:
        assert len(_boards()[name]["panels"]) == 10, name


@pytest.mark.parametrize("name_panel", _panels(), ids=lambda np: f"{np[0]}:{np[1]['title']}")
def test_every_panel_has_a_title_a_description_and_a_query(
    name_panel: tuple[str, dict[str, Any]],
) -> None:
    _, panel = name_panel
    assert panel["title"].strip()
    assert len(panel["description"]) > 20
    assert panel["targets"] and all(t["expr"].strip() for t in panel["targets"])
    assert len({t["refId"] for t in panel["targets"]}) == len(panel["targets"])
    assert panel["datasource"] == {"type": "prometheus", "uid": DATASOURCE_UID}


def test_every_alert_a_panel_description_names_is_a_real_rule() -> None:
    rules = [yaml.safe_load(p.read_text()) for p in RULES.glob("*.yml")]
    alerts = {r["alert"] for f in rules for g in f["groups"] for r in g["rules"] if "alert" in r}
    named = {
        word
        for _, panel in _panels()
        for word in re.findall(r"\b[A-Z][A-Za-z0-9]*[a-z][A-Z][A-Za-z0-9]*\b", panel["description"])
    } - {"MemTotal", "MemAvailable"}  # node-exporter's meminfo fields
    assert "TPSBelowTarget" in named
    assert named <= alerts, f"not alerts in {RULES}: {sorted(named - alerts)}"


def test_panel_ids_are_unique_and_panels_do_not_overlap() -> None:
    for name, board in _boards().items():
        panels = board["panels"]
        assert [p["id"] for p in panels] == list(range(1, len(panels) + 1)), name
        cells = [
            (p["gridPos"]["x"] + dx, p["gridPos"]["y"] + dy)
            for p in panels
            for dx in range(p["gridPos"]["w"])
            for dy in range(p["gridPos"]["h"])
        ]
        assert len(cells) == len(set(cells)), f"{name}: panels overlap"


def test_tps_is_drawn_against_the_target_line_of_the_tps_rule() -> None:
    board = _boards()["v11-application.json"]
    (tps,) = [p for p in board["panels"] if p["title"].startswith("Transactions per second")]
    assert [t["legendFormat"] for t in tps["targets"]] == ["confirmed TPS", "target"]
    assert tps["targets"][1]["expr"] == "vector($tps_target)"
    (variable,) = [v for v in board["templating"]["list"] if v["name"] == "tps_target"]
    assert float(variable["query"]) == RuleParams().tps_target
    (override,) = tps["fieldConfig"]["overrides"]
    assert override["matcher"] == {"id": "byName", "options": "target"}
    assert {"id": "custom.lineStyle", "value": {"dash": [10, 10], "fill": "dash"}} in override[
        "properties"
    ]


def test_the_datasource_provisioning_defines_the_uid_the_panels_use() -> None:
    provisioning = yaml.safe_load((GRAFANA / "provisioning/datasources/prometheus.yml").read_text())
    (prometheus,) = [d for d in provisioning["datasources"] if d["type"] == "prometheus"]
    assert prometheus["uid"] == DATASOURCE_UID
    assert prometheus["isDefault"] is True
    # The compose service and port Prometheus listens on.
    services = yaml.safe_load(COMPOSE.read_text())["services"]
    assert prometheus["url"] == "http://prometheus:9090"
    assert "--web.listen-address=0.0.0.0:9090" in services["prometheus"]["command"]


def test_the_dashboard_provider_loads_the_committed_folder_into_the_v11_folder() -> None:
    provisioning = yaml.safe_load(
        (GRAFANA / "provisioning/dashboards/aurigraph-v11.yml").read_text()
    )
    (provider,) = provisioning["providers"]
    assert provider["folder"] == FOLDER
    assert provider["type"] == "file"
    mounts = _grafana_mounts()
    assert mounts[provider["options"]["path"]] == str(GRAFANA / "dashboards")
    assert mounts["/etc/grafana/provisioning"] == str(GRAFANA / "provisioning")


def test_render_check_passes_on_fresh_files_and_names_a_stale_one(tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "dashboards"
    wrote = runner.invoke(app, ["dashboards", "render", "--out", str(out)])
    assert wrote.exit_code == 0, wrote.output
    assert sorted(p.name for p in out.iterdir()) == sorted(render())
    assert runner.invoke(app, ["dashboards", "render", "--out", str(out), "--check"]).exit_code == 0

    (out / "v11-business.json").write_text("{}")
    stale = runner.invoke(app, ["dashboards", "render", "--out", str(out), "--check"])
    assert stale.exit_code == 1
    assert f"out of date: {out / 'v11-business.json'}" in stale.output


def test_render_into_a_path_that_is_a_file_is_a_one_line_error(tmp_path: Path) -> None:
    blocker = tmp_path / "dashboards"
    blocker.write_text("not a folder")
    result = CliRunner().invoke(app, ["dashboards", "render", "--out", str(blocker)])
    assert result.exit_code == 2
    assert f"cannot write the dashboards to {blocker}" in result.output
    assert "Traceback" not in result.output
