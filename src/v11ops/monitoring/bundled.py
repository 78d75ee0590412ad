"""The repository's monitoring files (rules, Alertmanager routing, dashboards) as v11ops ships
them, so `v11ops monitor up` works from any folder: in a wheel they are packaged under
`v11ops/monitoring/files` (pyproject.toml, force-include); in a checkout (editable install) they
are the repository's `monitoring/` folder."""

from __future__ import annotations

from pathlib import Path

BUILTIN = "builtin"
_PACKAGED = Path(__file__).with_name("files")
_CHECKOUT = Path(__file__).resolve().parents[3] / "monitoring"


def bundled_monitoring_dir() -> Path | None:
    """The folder holding prometheus/rules and alertmanager/, or None if this install lacks it."""
    for folder in (_PACKAGED, _CHECKOUT):
        if (folder / "prometheus" / "rules").is_dir():
            return folder
    return None
