"""Open-model load generation against a node: signed ahead, sent on schedule, measured.

>>> from v11ops.load import LoadSpec, run_load
>>> spec = LoadSpec(target="http://127.0.0.1:9003", rate=2000, duration_s=10, batch=50)
>>> report = run_load(spec)  # doctest: +SKIP
"""

from v11ops.load.errors import LoadError, LoadSpecError
from v11ops.load.report import LatencySummary, LoadReport
from v11ops.load.runner import run_load, run_load_async
from v11ops.load.spec import LoadSpec

__all__ = [
    "LatencySummary",
    "LoadError",
    "LoadReport",
    "LoadSpec",
    "LoadSpecError",
    "run_load",
    "run_load_async",
]
