"""`v11ops init`, `v11ops config validate` and `v11ops config schema` through the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml
from typer.testing import CliRunner

from v11ops.cli.main import app
from v11ops.config import DEFAULT_CONFIG_YAML

runner = CliRunner()


def test_init_then_validate_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "v11ops.yaml"
    result = runner.invoke(app, ["init", "--path", str(path)])
    assert result.exit_code == 0, result.output
    assert path.read_text() == DEFAULT_CONFIG_YAML
    assert "# " in path.read_text()  # commented, for people

    result = runner.invoke(app, ["config", "validate", "--file", str(path)])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"OK {path}: service aurigraph-v11-node")
    assert "releases: 1.0.0, 1.1.0, 1.2.0" in result.stdout
    assert "slots: blue:9003, green:9004" in result.stdout


def test_init_writes_v11ops_yaml_in_the_current_folder_by_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert runner.invoke(app, ["init"]).exit_code == 0
    assert runner.invoke(app, ["config", "validate"]).exit_code == 0
    assert (tmp_path / "v11ops.yaml").exists()


def test_init_refuses_to_overwrite_without_force(tmp_path: Path) -> None:
    path = tmp_path / "v11ops.yaml"
    path.write_text("mine\n")
    result = runner.invoke(app, ["init", "--path", str(path)])
    assert result.exit_code == 2
    assert result.stderr == f"error: {path} already exists; pass --force to overwrite it\n"
    assert path.read_text() == "mine\n"

    result = runner.invoke(app, ["init", "--path", str(path), "--force"])
    assert result.exit_code == 0
    assert path.read_text() == DEFAULT_CONFIG_YAML


def test_validate_prints_one_line_and_exits_2_for_a_bad_file(tmp_path: Path) -> None:
    path = tmp_path / "v11ops.yaml"
    path.write_text(
        DEFAULT_CONFIG_YAML.replace(
            'V11_FAULT_ERROR_RATE: "0.5"', "V11_FAULT_ERROR_RATE_FOR_A_LONG_LINE: 0.5"
        )
    )
    result = runner.invoke(app, ["config", "validate", "--file", str(path)])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr == (
        f"error: {path}: releases.1.2.0.env.V11_FAULT_ERROR_RATE_FOR_A_LONG_LINE: "
        "expected a string, got 0.5\n"
    )


def test_validate_warns_about_a_plaintext_secret_but_passes(tmp_path: Path) -> None:
    path = tmp_path / "v11ops.yaml"
    path.write_text(DEFAULT_CONFIG_YAML.replace("  env: {}", '  env: {V11_API_KEY: "hunter2"}'))
    result = runner.invoke(app, ["config", "validate", "--file", str(path)])
    assert result.exit_code == 0
    assert result.stderr == (
        "warning: service.env.V11_API_KEY looks like a secret in plaintext; "
        "use env:NAME or file:PATH instead\n"
    )


def test_validate_json_summary(tmp_path: Path) -> None:
    path = tmp_path / "v11ops.yaml"
    path.write_text(DEFAULT_CONFIG_YAML)
    result = runner.invoke(app, ["config", "validate", "--file", str(path), "--json"])
    assert result.exit_code == 0
    summary = json.loads(result.stdout)
    assert summary["ok"] is True
    assert summary["releases"] == ["1.0.0", "1.1.0", "1.2.0"]
    assert summary["slots"] == {"blue": 9003, "green": 9004}
    assert summary["state_dir"] == str(tmp_path / ".v11ops")


def test_schema_is_a_valid_json_schema_that_accepts_the_default_file() -> None:
    result = runner.invoke(app, ["config", "schema"])
    assert result.exit_code == 0
    schema = json.loads(result.stdout)
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.validate(yaml.safe_load(DEFAULT_CONFIG_YAML), schema)
    bad = yaml.safe_load(DEFAULT_CONFIG_YAML)
    bad["router"]["kind"] = "traefik"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schema)
