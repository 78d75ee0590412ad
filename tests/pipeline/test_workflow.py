"""The GitHub workflow: linted, audited, and unable to turn a failed stage into a pass.

The original pipeline marked its security scan continue-on-error (it could never fail a build)
and its staging deploy waited on a job that was skipped on develop (it never ran). These tests
pin both shut, along with the rest of what a release depends on.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.pipeline.conftest import ROOT, WORKFLOW, tool

# The stages a release depends on: none of them may be skipped or excused into success.
GUARDED = ["gate", "scan", "native", "image", "deploy-staging", "deploy-production"]
DEPLOYS = ["deploy-staging", "deploy-production"]
# A status function in an `if:` lets a job or step run after its dependencies failed.
RUNS_AFTER_FAILURE = re.compile(r"\b(always|failure|cancelled)\s*\(")
SHA_PIN = re.compile(r"^[\w.-]+/[\w.-]+(/[\w./-]+)?@[0-9a-f]{40}$")


def steps(job: dict[str, Any]) -> list[dict[str, Any]]:
    return list(job.get("steps", []))


def needs(job: dict[str, Any]) -> list[str]:
    value = job.get("needs", [])
    return [value] if isinstance(value, str) else list(value)


def upstream(jobs: dict[str, dict[str, Any]], name: str) -> set[str]:
    """Every job that `name` waits for, directly or through others."""
    found: set[str] = set()
    pending = needs(jobs[name])
    while pending:
        job = pending.pop()
        if job not in found:
            found.add(job)
            pending.extend(needs(jobs[job]))
    return found


def test_actionlint_passes_on_the_workflow() -> None:
    # actionlint checks each `run:` script with shellcheck when it finds one on PATH.
    shellcheck_dir = Path(tool("shellcheck")).parent
    env = {**os.environ, "PATH": f"{shellcheck_dir}{os.pathsep}{os.environ['PATH']}"}
    result = subprocess.run(
        [tool("actionlint"), "-no-color", str(WORKFLOW)],
        capture_output=True, text=True, timeout=60, cwd=ROOT, env=env,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


def test_zizmor_offline_finds_nothing_beyond_the_documented_exceptions() -> None:
    # .github/zizmor.yml is found on its own; it documents what is accepted and why.
    result = subprocess.run(
        [tool("zizmor"), "--offline", "--no-progress", "--color=never", "."],
        capture_output=True, text=True, timeout=120, cwd=ROOT,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


def test_no_job_or_step_can_continue_on_error(jobs: dict[str, dict[str, Any]]) -> None:
    excused = [
        f"{name}/{step.get('name') or step.get('uses') or step.get('run')}"
        for name, job in jobs.items()
        for step in [job, *steps(job)]
        if "continue-on-error" in step
    ]
    assert excused == []


@pytest.mark.parametrize("name", GUARDED)
def test_a_guarded_stage_never_runs_after_a_failed_dependency(
    jobs: dict[str, dict[str, Any]], name: str
) -> None:
    conditions = [str(part.get("if", "")) for part in [jobs[name], *steps(jobs[name])]]
    assert not [c for c in conditions if RUNS_AFTER_FAILURE.search(c)]


@pytest.mark.parametrize("name", DEPLOYS)
def test_a_deploy_needs_the_gate_the_scan_and_the_image(
    jobs: dict[str, dict[str, Any]], name: str
) -> None:
    assert {"gate", "scan", "image"} <= set(needs(jobs[name]))
    assert {"build", "tests", "perf", "native"} <= upstream(jobs, name)


def test_every_job_before_the_staging_deploy_runs_on_develop(
    jobs: dict[str, dict[str, Any]], workflow: dict[Any, Any]
) -> None:
    # A prerequisite with its own `if:` could be skipped on develop, and the staging deploy
    # with it: the original's defect. The deploys are the only jobs that choose a branch.
    conditional = sorted(job for job in upstream(jobs, "deploy-staging") if "if" in jobs[job])
    assert conditional == []
    triggers = workflow[True]  # PyYAML reads the key `on` as True
    assert {"main", "develop"} <= set(triggers["push"]["branches"])


def test_staging_deploys_from_develop_and_production_from_main_after_approval(
    jobs: dict[str, dict[str, Any]],
) -> None:
    staging, production = jobs["deploy-staging"], jobs["deploy-production"]
    assert "refs/heads/develop" in staging["if"] and "refs/heads/main" not in staging["if"]
    assert "refs/heads/main" in production["if"] and "refs/heads/develop" not in production["if"]
    assert staging["environment"]["name"] == "staging"
    assert production["environment"]["name"] == "production"


def test_every_stage_runs_its_nox_session(jobs: dict[str, dict[str, Any]]) -> None:
    sessions = {
        "build": "nox -s build",
        "tests": 'nox -s "tests($SUITE)"',
        "perf": "nox -s perf",
        "gate": "nox -s gate",
        "scan": "nox -s scan",
        "native": "nox -s native",
        "image": "nox -s image",
        "deploy-staging": "nox -s deploy",
        "deploy-production": "nox -s deploy",
    }
    for name, command in sessions.items():
        scripts = "\n".join(str(step.get("run", "")) for step in steps(jobs[name]))
        assert command in scripts, name


def test_ci_never_skips_the_dependency_audit() -> None:
    assert "--skip-audit" not in WORKFLOW.read_text()


def test_the_integration_tests_get_postgresql_nginx_prometheus_and_wrk(
    jobs: dict[str, dict[str, Any]],
) -> None:
    tests = jobs["tests"]
    assert set(tests["strategy"]["matrix"]["suite"]) == {"unit", "integration"}
    assert "postgres" in tests["services"]
    scripts = "\n".join(str(step.get("run", "")) for step in steps(tests))
    for package in ("nginx", "prometheus", "wrk"):
        assert re.search(rf"apt-get install .*\b{package}\b", scripts, re.DOTALL), package


def test_permissions_are_read_only_except_the_image_push(
    workflow: dict[Any, Any], jobs: dict[str, dict[str, Any]]
) -> None:
    assert workflow["permissions"] == {"contents": "read"}
    writers = {
        name: job["permissions"]
        for name, job in jobs.items()
        if "write" in json.dumps(job.get("permissions", {}))
    }
    assert writers == {"image": {"contents": "read", "packages": "write"}}


def test_every_job_has_a_timeout(jobs: dict[str, dict[str, Any]]) -> None:
    assert [name for name, job in jobs.items() if "timeout-minutes" not in job] == []


def test_actions_are_pinned_by_commit_and_checkouts_keep_no_credentials(
    jobs: dict[str, dict[str, Any]],
) -> None:
    for name, job in jobs.items():
        for step in steps(job):
            uses = step.get("uses")
            if uses is None:
                continue
            assert SHA_PIN.match(uses), f"{name}: {uses}"
            if uses.startswith("actions/checkout@"):
                assert step["with"]["persist-credentials"] is False, name


def test_every_artifact_has_a_retention(jobs: dict[str, dict[str, Any]]) -> None:
    uploads = [
        (name, step["with"])
        for name, job in jobs.items()
        for step in steps(job)
        if str(step.get("uses", "")).startswith("actions/upload-artifact@")
    ]
    assert uploads
    assert [name for name, spec in uploads if "retention-days" not in spec] == []


def test_notify_always_runs_and_waits_for_every_other_job(
    jobs: dict[str, dict[str, Any]],
) -> None:
    notify = jobs["notify"]
    assert notify["if"] == "always()"
    assert set(needs(notify)) == set(jobs) - {"notify"}


def run_notify(jobs: dict[str, dict[str, Any]], results: dict[str, str], tmp: Path) -> int:
    """Run the notify job's script as GitHub would, with these job results."""
    (script,) = [step["run"] for step in steps(jobs["notify"])]
    summary = tmp / "summary.md"
    env = {
        "PATH": os.environ["PATH"],
        "RESULTS": json.dumps({job: {"result": r, "outputs": {}} for job, r in results.items()}),
        "GITHUB_STEP_SUMMARY": str(summary),
        "RUN_URL": "https://example.invalid/run/1",
        "WEBHOOK_URL": "",
    }
    result = subprocess.run(["bash", "-e", "-c", script], env=env, timeout=30, capture_output=True)
    assert summary.read_text().startswith("| stage | result |")
    return result.returncode


def all_passed(jobs: dict[str, dict[str, Any]]) -> dict[str, str]:
    return {name: "success" for name in needs(jobs["notify"])}


def test_notify_passes_when_every_stage_passed_or_was_not_due(
    jobs: dict[str, dict[str, Any]], tmp_path: Path
) -> None:
    results = {**all_passed(jobs), "deploy-staging": "skipped"}
    assert run_notify(jobs, results, tmp_path) == 0


@pytest.mark.parametrize("outcome", ["failure", "cancelled"])
def test_notify_fails_when_a_stage_failed_so_it_cannot_mask_it(
    jobs: dict[str, dict[str, Any]], tmp_path: Path, outcome: str
) -> None:
    results = {**all_passed(jobs), "scan": outcome, "image": "skipped"}
    assert run_notify(jobs, results, tmp_path) == 1
