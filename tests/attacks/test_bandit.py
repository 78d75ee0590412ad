"""bandit over src at the pipeline's levels (noxfile.py `scan`): no finding at medium or above."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BANDIT = str(Path(sys.executable).with_name("bandit"))


def _noxfile_levels() -> dict[str, str]:
    """BANDIT_SEVERITY and BANDIT_CONFIDENCE as noxfile.py sets them (read, not imported)."""
    tree = ast.parse((ROOT / "noxfile.py").read_text())
    found = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant):
            for target in node.targets:
                if isinstance(target, ast.Name) and target.id.startswith("BANDIT_"):
                    found[target.id] = str(node.value.value)
    return found


def test_the_pipeline_fails_on_every_medium_finding_whatever_the_confidence() -> None:
    levels = _noxfile_levels()
    assert levels["BANDIT_SEVERITY"] == "medium" and levels["BANDIT_CONFIDENCE"] == "low"


@pytest.mark.slow
def test_bandit_finds_nothing_at_medium_or_above() -> None:
    levels = _noxfile_levels()
    result = subprocess.run(
        [
            BANDIT, "--recursive", "src", "--quiet", "--format", "json",
            f"--severity-level={levels['BANDIT_SEVERITY']}",
            f"--confidence-level={levels['BANDIT_CONFIDENCE']}",
        ],
        cwd=ROOT, capture_output=True, text=True, timeout=110,
    )  # fmt: skip
    report = json.loads(result.stdout)
    findings = [
        f"{r['filename']}:{r['line_number']} {r['test_id']} {r['issue_text']}"
        for r in report["results"]
    ]
    assert not findings, "\n".join(findings)
    assert result.returncode == 0 and not report["errors"], result.stderr[-2000:]
    assert report["metrics"]["_totals"]["loc"] > 10_000  # it did scan the source
