"""Secret references (`env:`, `file:`) and template placeholders, at the edges of their rules."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic_core import PydanticCustomError

from v11ops.config import ConfigError
from v11ops.config._secrets import (
    reference_kind,
    reference_problem,
    render_env,
    resolve_mapping,
    resolve_reference,
)
from v11ops.config._templates import RELEASE_PLACEHOLDERS, check_template, placeholders


@pytest.mark.parametrize(
    ("value", "kind", "problem"),
    [
        ("env:V11_API_KEY", "env", None),
        ("env:1BAD", "env", "env: reference needs a variable name, e.g. env:V11_API_KEY"),
        ("env:", "env", "env: reference needs a variable name, e.g. env:V11_API_KEY"),
        ("file:secrets/key", "file", None),
        ("file:", "file", "file: reference needs a path, e.g. file:secrets/api-key"),
        ("file:///etc/hosts", None, None),
        ("plain", None, None),
    ],
)
def test_references_are_recognised_and_malformed_ones_explained(
    value: str, kind: str | None, problem: str | None
) -> None:
    assert reference_kind(value) == kind
    assert reference_problem(value) == problem


def test_an_env_reference_reads_the_variable_or_names_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("V11_TEST_SECRET", "s3cret")
    monkeypatch.delenv("V11_TEST_ABSENT", raising=False)
    assert resolve_reference("env:V11_TEST_SECRET", tmp_path, "x") == "s3cret"
    with pytest.raises(
        ConfigError, match=r"^api\.key: env:V11_TEST_ABSENT: environment variable V11_TEST_ABSENT"
    ):
        resolve_reference("env:V11_TEST_ABSENT", tmp_path, "api.key")


def test_a_file_reference_is_read_relative_to_the_config_without_its_newline(
    tmp_path: Path,
) -> None:
    (tmp_path / "key").write_text("abc\n\n")
    assert resolve_mapping({"X-Key": "file:key", "X-Plain": "v"}, tmp_path, "headers") == {
        "X-Key": "abc",
        "X-Plain": "v",
    }
    with pytest.raises(
        ConfigError, match=r"^headers\.X-Key: file:absent: cannot read .*absent: No such file"
    ):
        resolve_mapping({"X-Key": "file:absent"}, tmp_path, "headers")


def test_env_values_render_templates_but_never_inside_secrets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("V11_TEST_BRACES", "p{a}ss")
    env = {"PORT": "{port}", "TOKEN": "env:V11_TEST_BRACES"}
    assert render_env(env, {"port": 9001}, tmp_path, "env") == {"PORT": "9001", "TOKEN": "p{a}ss"}


def test_templates_name_the_unknown_placeholder_and_the_allowed_ones() -> None:
    assert placeholders("{python} -m app --port {port}") == ["python", "port"]
    assert check_template("{port}", RELEASE_PLACEHOLDERS) == "{port}"
    with pytest.raises(PydanticCustomError) as unknown:
        check_template("--db {database}", RELEASE_PLACEHOLDERS, key=2)
    assert "unknown placeholder {database}" in str(unknown.value)
    assert "{port}, {python}, {slot}, {state_dir}, {version}" in str(unknown.value)


@pytest.mark.parametrize(
    ("template", "problem"),
    [
        ("{}", "positional placeholder {} is not supported"),
        ("{0}", "positional placeholder {} is not supported"),
        ("{port", "expected '}' before end of string"),
        ("port}", "Single '}' encountered in format string"),
    ],
)
def test_positional_and_unbalanced_braces_are_refused(template: str, problem: str) -> None:
    with pytest.raises(PydanticCustomError) as refused:
        check_template(template, RELEASE_PLACEHOLDERS)
    assert str(refused.value).startswith(f"{problem} in {template!r}")
    assert "for literal braces" in str(refused.value)
