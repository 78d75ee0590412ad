"""The nox sessions: every stage exists, and image and deploy say why they cannot run.

image and deploy are exercised with stand-ins for `docker` and `ssh` on PATH that record their
arguments, against a copy of the noxfile with a wheel in its dist/.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tests.pipeline.conftest import ROOT, tool

STAGES = {"build", "tests(unit)", "tests(integration)", "perf", "gate", "scan", "native", "image"}
WHEEL_VERSION = "1.2.3.dev4+g0abc123"

# Records its arguments as one JSON line; exits with FAKE_<NAME>_EXIT (docker info: ..._INFO_EXIT).
RECORDER = """\
import json, os, sys
name = os.path.basename(sys.argv[0]).upper()
with open(os.environ["FAKE_LOG"], "a") as log:
    log.write(json.dumps([os.path.basename(sys.argv[0]), *sys.argv[1:]]) + "\\n")
if sys.argv[1:2] == ["info"]:
    code = os.environ.get(f"FAKE_{name}_INFO_EXIT", "0")
    if code != "0":
        print("Cannot connect to the Docker daemon", file=sys.stderr)
    sys.exit(int(code))
sys.exit(int(os.environ.get(f"FAKE_{name}_EXIT", "0")))
"""


def nox(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    # The machine's own CI flag and deploy settings must not leak into these runs.
    clean = {
        key: value
        for key, value in os.environ.items()
        if key not in {"CI", "GITHUB_STEP_SUMMARY"} and not key.startswith("V11OPS_")
    }
    return subprocess.run(
        [tool("nox"), "--noxfile", str(cwd / "noxfile.py"), *args],
        capture_output=True, text=True, timeout=60, cwd=cwd, env={**clean, **env},
    )  # fmt: skip


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of the noxfile with a built wheel beside it and fake docker and ssh on PATH."""
    shutil.copy(ROOT / "noxfile.py", tmp_path / "noxfile.py")
    (tmp_path / "dist").mkdir()
    (tmp_path / "dist" / f"v11ops-{WHEEL_VERSION}-py3-none-any.whl").touch()
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("docker", "ssh"):
        fake = bin_dir / name
        fake.write_text(f"#!{sys.executable}\n{RECORDER}")
        fake.chmod(0o755)
    return tmp_path


def fake_env(project: Path, **extra: str) -> dict[str, str]:
    path = f"{project / 'bin'}{os.pathsep}{os.environ['PATH']}"
    return {"PATH": path, "FAKE_LOG": str(project / "calls.jsonl"), **extra}


def calls(project: Path) -> list[list[str]]:
    log = project / "calls.jsonl"
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def test_every_stage_is_a_session_and_deploy_is_never_run_by_default() -> None:
    result = nox(["--list"], ROOT)
    assert result.returncode == 0, result.stderr
    listed = dict(
        (line[2:].split(" -> ")[0], line[0])
        for line in result.stdout.splitlines()
        if line[:2] in {"* ", "- "}
    )
    assert {name for name, mark in listed.items() if mark == "*"} == STAGES
    assert listed["deploy"] == "-"


def test_the_gate_thresholds_are_95_percent_of_lines_and_90_percent_of_branches() -> None:
    tool_config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]
    assert tool_config["v11ops"]["gate"] == {"line-coverage": 95, "branch-coverage": 90}
    run = tool_config["coverage"]["run"]
    assert run["branch"] is True and "subprocess" in run["patch"]


def test_image_skips_saying_why_when_no_docker_engine_answers(project: Path) -> None:
    result = nox(["-s", "image"], project, **fake_env(project, FAKE_DOCKER_INFO_EXIT="1"))
    assert result.returncode == 0, result.stderr
    assert "Session image skipped: no Docker engine answers `docker info`" in result.stderr
    assert "Cannot connect to the Docker daemon" in result.stderr
    assert [call[1] for call in calls(project)] == ["info"]


def test_image_fails_in_ci_when_no_docker_engine_answers(project: Path) -> None:
    env = fake_env(project, FAKE_DOCKER_INFO_EXIT="1", CI="true")
    result = nox(["-s", "image"], project, **env)
    assert result.returncode == 1
    assert "CI=true: a stage that cannot run fails" in result.stderr


def test_image_builds_the_wheel_with_its_version_and_oci_labels(project: Path) -> None:
    result = nox(["-s", "image"], project, **fake_env(project, V11OPS_IMAGE="ghcr.io/Org/V11ops"))
    assert result.returncode == 0, result.stderr
    info, build = calls(project)
    assert info == ["docker", "info"]
    assert build[:2] == ["docker", "build"] and build[-1] == "."
    # A registry name is lowercase, and an image tag cannot hold the '+' of a local version.
    assert build[build.index("--tag") + 1] == "ghcr.io/org/v11ops:1.2.3.dev4-g0abc123"
    build_args = {build[i + 1].split("=")[0] for i, arg in enumerate(build) if arg == "--build-arg"}
    assert build_args == {"VERSION", "REVISION", "CREATED", "SOURCE"}
    assert f"VERSION={WHEEL_VERSION}" in build


def test_image_pushes_only_when_asked(project: Path) -> None:
    result = nox(["-s", "image", "--", "--push"], project, **fake_env(project))
    assert result.returncode == 0, result.stderr
    assert calls(project)[-1] == ["docker", "push", "v11ops:1.2.3.dev4-g0abc123"]


def test_deploy_skips_saying_why_without_a_host(project: Path) -> None:
    result = nox(["-s", "deploy"], project, **fake_env(project))
    assert result.returncode == 0, result.stderr
    assert "Session deploy skipped: V11OPS_DEPLOY_HOST is not set" in result.stderr
    assert calls(project) == []


def test_deploy_fails_in_ci_without_a_host(project: Path) -> None:
    result = nox(["-s", "deploy"], project, **fake_env(project, CI="true"))
    assert result.returncode == 1
    assert calls(project) == []


def test_deploy_runs_v11ops_deploy_on_the_host_over_non_interactive_ssh(project: Path) -> None:
    env = fake_env(project, V11OPS_DEPLOY_HOST="deploy@staging.example", CI="true")
    result = nox(["-s", "deploy"], project, **env)
    assert result.returncode == 0, result.stderr
    (ssh,) = calls(project)
    assert ssh == [
        "ssh", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes", "deploy@staging.example",
        f"v11ops deploy --file v11ops.yaml --json {WHEEL_VERSION}",
    ]  # fmt: skip


def test_a_failed_remote_deploy_fails_the_session(project: Path) -> None:
    env = fake_env(project, V11OPS_DEPLOY_HOST="deploy@prod.example", FAKE_SSH_EXIT="1")
    result = nox(["-s", "deploy"], project, **env)
    assert result.returncode == 1
    assert "stage deploy: failed" in result.stderr
