"""The Dockerfile: multi-stage, unprivileged, health-checked on readiness, labelled, linted."""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass, field

import pytest

from tests.pipeline.conftest import ROOT, tool

DOCKERFILE = ROOT / "Dockerfile"
OCI_LABELS = {"title", "description", "version", "revision", "created", "source", "licenses"}


@dataclass
class Stage:
    base: str
    name: str
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [args for kw, args in self.instructions if kw == keyword]


def parse_stages() -> list[Stage]:
    """The Dockerfile's stages, each with its instructions (continuations joined)."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    stages: list[Stage] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        keyword, _, args = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            base, _, name = args.partition(" AS ")
            stages.append(Stage(base.strip(), name.strip()))
        elif stages:
            stages[-1].instructions.append((keyword, args.strip()))
    return stages


@pytest.fixture(scope="module")
def runtime() -> Stage:
    return parse_stages()[-1]


def test_the_image_is_built_in_stages_and_ships_only_the_virtualenv(runtime: Stage) -> None:
    stages = parse_stages()
    assert len(stages) >= 2
    copies = runtime.all("COPY")
    assert copies and all(c.startswith(f"--from={stages[0].name} ") for c in copies)


def test_the_image_runs_as_an_unprivileged_user(runtime: Stage) -> None:
    (user,) = runtime.all("USER")
    assert user.split(":")[0] not in {"root", "0"}


def test_the_healthcheck_asks_for_readiness_on_the_served_port(runtime: Stage) -> None:
    (healthcheck,) = runtime.all("HEALTHCHECK")
    (exposed,) = runtime.all("EXPOSE")
    (command,) = runtime.all("CMD")
    assert f"127.0.0.1:{exposed}/q/health/ready" in healthcheck
    assert f'"--port", "{exposed}"' in command


def test_the_image_carries_the_oci_labels(runtime: Stage) -> None:
    labels = set(
        re.findall(r"org\.opencontainers\.image\.([a-z.]+)=", " ".join(runtime.all("LABEL")))
    )
    assert labels >= OCI_LABELS


def test_the_build_context_is_only_the_wheel() -> None:
    rules = [
        line
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert rules == ["*", "!dist/*.whl"]


def test_hadolint_passes() -> None:
    result = subprocess.run(
        [tool("hadolint"), "--no-color", str(DOCKERFILE)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
