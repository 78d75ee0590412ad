"""The rule files: what `v11ops monitoring rules render` writes, and the check that the
committed files are what the generator makes."""

from __future__ import annotations

from pathlib import Path

from v11ops.monitoring.rules.alerts import alert_groups, without_disabled
from v11ops.monitoring.rules.backup import backup_group
from v11ops.monitoring.rules.params import RuleParams
from v11ops.monitoring.rules.rulefile import render_groups
from v11ops.monitoring.rules.security import security_group
from v11ops.monitoring.rules.slo import SloSpec, slo_groups
from v11ops.monitoring.rules.watchdog import watchdog_group

ALERTS_FILE = "aurigraph-alerts.yml"
SLO_FILE = "aurigraph-slo.yml"
META_FILE = "aurigraph-meta.yml"
BACKUP_FILE = "aurigraph-backup.yml"
SECURITY_FILE = "aurigraph-security.yml"


def render_rule_files(params: RuleParams, spec: SloSpec) -> dict[str, str]:
    """File name -> YAML text of every rule file."""
    base, override = params.runbook_base, params.for_override
    seed, backup, security = without_disabled(
        params, [alert_groups(params), [backup_group(params)], [security_group(params)]]
    )
    return {
        ALERTS_FILE: render_groups(seed, base, override),
        BACKUP_FILE: render_groups(backup, base, override),
        SECURITY_FILE: render_groups(security, base, override),
        SLO_FILE: render_groups(slo_groups(spec, params), base, override),
        META_FILE: render_groups([watchdog_group()], base, override),
    }


def write_rule_files(out_dir: Path, files: dict[str, str]) -> list[Path]:
    """Write the files into `out_dir` (created if missing); returns the paths written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in files.items():
        path = out_dir / name
        path.write_text(text)
        written.append(path)
    return written


def outdated_files(out_dir: Path, files: dict[str, str]) -> list[str]:
    """Names of the files in `out_dir` that are missing or differ from `files`."""
    return [
        name
        for name, text in files.items()
        if not (out_dir / name).is_file() or (out_dir / name).read_text() != text
    ]
