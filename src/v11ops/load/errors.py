"""Errors of the load package: what went wrong with a run, not with the node under load."""

from __future__ import annotations

from v11ops.load.spec import LoadSpecError


class LoadError(RuntimeError):
    """A load run could not be carried out (a worker failed or never reported back)."""


__all__ = ["LoadError", "LoadSpecError"]
