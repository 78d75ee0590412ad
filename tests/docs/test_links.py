"""Every relative link and #anchor in README.md and docs/*.md resolves, as GitHub renders them.

Alerts point their `runbook_url` at anchors of docs/runbook.md, so a renamed heading is a broken
link: the runbook's section anchors are pinned below.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote

import pytest

from tests.docs.markdown import anchors, github_slug, heading_text, links

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

RUNBOOK_ANCHORS = [
    "pre-deployment-checklist",
    "registering-a-release",
    "deployment-strategies",
    "blue-green",
    "canary",
    "canary-analysis",
    "rolling",
    "step-by-step-deployment",
    "post-deployment-validation",
    "rollback",
    "fast-rollback",
    "rollback-by-redeploying-the-last-good-release",
    "troubleshooting",
    "a-release-never-becomes-ready",
    "a-smoke-check-fails",
    "a-deploy-was-rolled-back-after-the-switch",
    "another-deploy-is-in-progress-the-deploy-lock",
    "the-router-is-down",
    "the-controller-crashed",
    "alert-responses",
    "disaster-recovery",
]

SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:|^//")
LINE_FRAGMENT = re.compile(r"^L\d+(-L\d+)?$")


def broken(page: Path, target: str) -> str | None:
    """Why `target` (a link on `page`) does not resolve, or None."""
    path_part, _, fragment = target.partition("#")
    dest = (page.parent / unquote(path_part)).resolve() if path_part else page
    if not dest.is_relative_to(ROOT):
        return "points outside the repository (a fresh clone has nothing there)"
    if not dest.exists():
        return f"{dest.relative_to(ROOT)} does not exist"
    if not fragment:
        return None
    if dest.suffix == ".md":
        if unquote(fragment) not in anchors(dest):
            return f"no heading or anchor #{fragment} in {dest.relative_to(ROOT)}"
        return None
    if dest.is_file() and LINE_FRAGMENT.match(fragment):
        return None
    return f"#{fragment} on {dest.relative_to(ROOT)}, which has no anchors"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_and_anchor_resolves(page: Path) -> None:
    problems = [
        f"{page.relative_to(ROOT)}: ({target}) {why}"
        for target in links(page)
        if target and not SCHEME.match(target)
        for why in [broken(page, target)]
        if why
    ]
    assert not problems, "\n".join(problems)


def test_the_runbook_keeps_its_section_anchors() -> None:
    missing = [a for a in RUNBOOK_ANCHORS if a not in anchors(ROOT / "docs" / "runbook.md")]
    assert not missing, f"runbook.md lost anchors that links and alerts use: {missing}"


def test_github_slugs_follow_github() -> None:
    cases = {
        "Rollback": "rollback",
        "Canary analysis": "canary-analysis",
        "`v11ops deploy` under load": "v11ops-deploy-under-load",
        "A deploy was rolled back: why?": "a-deploy-was-rolled-back-why",
        "1. See it work: `make demo`": "1-see-it-work-make-demo",
        "p95 < 100 ms": "p95--100-ms",
        "Step-by-step deployment": "step-by-step-deployment",
        "What **warm** means": "what-warm-means",
    }
    assert {h: github_slug(heading_text(h)) for h in cases} == cases


def test_broken_links_are_caught(tmp_path: Path) -> None:
    page = ROOT / "docs" / "runbook.md"
    assert broken(page, "#no-such-section") is not None
    assert broken(page, "no-such-file.md") is not None
    assert broken(page, "../../outside.md") is not None
    assert broken(page, "#rollback") is None
    assert broken(page, "../src/v11ops/deploy/") is None
