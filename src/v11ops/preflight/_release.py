"""The target release: `v11ops deploy VERSION` only knows the versions under `releases:`."""

from __future__ import annotations

from v11ops.config import Config
from v11ops.preflight._verdict import Verdict, failing, passing, skipped


def judge_release(config: Config, version: str | None) -> Verdict:
    """PASS when `version` is listed in the config; SKIP when no version was asked about."""
    where = str(config.source or "the config")
    if version is None:
        return skipped("no --version given", known=config.versions)
    if version not in config.releases:
        known = ", ".join(config.versions)
        return failing(
            f"unknown release {version!r} (known: {known}); add it under releases: in {where}",
            known=config.versions,
        )
    return passing(f"release {version} is in {where}", known=config.versions)
