"""Rule parameters and SLO specs from files: every mistake is a ParamsError naming the file and
the field; overrides update nested values without replacing their siblings."""

from __future__ import annotations

from pathlib import Path

import pytest

from v11ops.monitoring.bundled import bundled_monitoring_dir
from v11ops.monitoring.rules import ParamsError, load_params
from v11ops.monitoring.rules.render import outdated_files, render_rule_files, write_rule_files
from v11ops.monitoring.rules.slo import load_slo_spec

REPO = Path(__file__).resolve().parents[3]


def test_defaults_file_values_and_dotted_overrides_apply_in_that_order(tmp_path: Path) -> None:
    defaults = load_params(None)
    path = tmp_path / "params.yaml"
    path.write_text("tps_target: 250\nnode_job: mine\n")
    params = load_params(path, {"tps_target": 500, "for_override": "1s"})
    assert (params.tps_target, params.node_job, params.for_override) == (500, "mine", "1s")
    assert params.router_job == defaults.router_job


def test_an_empty_params_file_means_the_defaults(tmp_path: Path) -> None:
    path = tmp_path / "params.yaml"
    path.write_text("")
    assert load_params(path) == load_params(None)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("- a\n- b\n", "expected a mapping of parameter names to values"),
        ("tps_target: [unclosed\n", "not valid YAML"),
        ("tps_target: -5\n", "tps_target:"),
        ("no_such_field: 1\n", "no_such_field"),
    ],
)  # fmt: skip
def test_a_bad_params_file_names_the_file_and_the_problem(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "params.yaml"
    path.write_text(text)
    with pytest.raises(ParamsError, match=message) as err:
        load_params(path)
    assert str(err.value).startswith(str(path))
    assert "\n" not in str(err.value)


def test_a_missing_params_file_says_it_cannot_be_read(tmp_path: Path) -> None:
    with pytest.raises(ParamsError, match=r"params.yaml: cannot read \(No such file"):
        load_params(tmp_path / "params.yaml")


def test_a_bad_override_names_set(tmp_path: Path) -> None:
    with pytest.raises(ParamsError, match=r"^--set: tps_target"):
        load_params(None, {"tps_target": "many"})


SLO = """\
slos:
  - name: availability
    alert: V11Availability
    objective: 0.999
    bad_events: 5xx answers
    errors: sum(rate(http_requests_total{{code=~"5.."}}[{window}]))
    total: sum(rate(http_requests_total[{window}]))
"""


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("slos: [", "not valid YAML"),
        (SLO.format(window="5m"), "must use ${window}"),
        (SLO.format(window="${window}").replace("total: sum", "total: ${nope} sum"),
         "unknown placeholder 'nope'"),
        ("slos: []\n", "slos"),
    ],
)  # fmt: skip
def test_a_bad_slo_spec_names_the_problem(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "slo.yaml"
    path.write_text(text)
    with pytest.raises(ParamsError, match=message.replace("$", r"\$").replace("{", r"\{")):
        load_slo_spec(path)


def test_a_missing_slo_spec_says_it_cannot_be_read(tmp_path: Path) -> None:
    with pytest.raises(ParamsError, match="cannot read the SLO spec"):
        load_slo_spec(tmp_path / "slo.yaml")


def test_written_rule_files_are_up_to_date_until_one_changes(tmp_path: Path) -> None:
    spec = load_slo_spec(REPO / "monitoring" / "prometheus" / "slo.yaml")
    files = render_rule_files(load_params(None), spec)
    out = tmp_path / "rules"
    written = write_rule_files(out, files)
    assert sorted(p.name for p in written) == sorted(files)
    assert outdated_files(out, files) == []
    first = sorted(files)[0]
    (out / first).write_text("changed\n")
    (out / sorted(files)[1]).unlink()
    assert sorted(outdated_files(out, files)) == sorted(files)[:2]


def test_the_bundled_monitoring_folder_is_the_checkouts_in_a_checkout() -> None:
    found = bundled_monitoring_dir()
    assert found is not None and (found / "prometheus" / "rules").is_dir()
