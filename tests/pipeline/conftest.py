"""Shared helpers for the pipeline's tests: the repository's files and the dev extra's tools."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.services import require

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = ROOT / ".github" / "workflows" / "pipeline.yml"


def tool(name: str) -> str:
    """A tool of the dev extra: beside this interpreter, else on PATH. Skips (fails in CI)."""
    beside = Path(sys.executable).with_name(name)
    path = str(beside) if beside.exists() else shutil.which(name)
    require(path is not None, f"the {name} command (pip install -e '.[dev]')")
    assert path is not None
    return path


@pytest.fixture(scope="session")
def workflow() -> dict[Any, Any]:
    # PyYAML reads the key `on` as the boolean True (YAML 1.1); the jobs are what we check.
    document = yaml.safe_load(WORKFLOW.read_text())
    assert isinstance(document, dict)
    return document


@pytest.fixture(scope="session")
def jobs(workflow: dict[Any, Any]) -> dict[str, dict[str, Any]]:
    return dict(workflow["jobs"])
