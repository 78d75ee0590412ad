"""Suite-wide set-up: each pytest-xdist worker picks ports from its own slice of the auto range.

`free_port()` checks that a port is bindable and never hands the same one out twice in one
process, but two workers (and the controllers, routers and nodes they start, which inherit the
environment) could still pick the same port in the moment before it is bound. Disjoint slices
remove that race.
"""

from __future__ import annotations

import os

import pytest

from v11ops.runtime._ports import RANGE_ENV, auto_port_range


def pytest_configure(config: pytest.Config) -> None:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if not worker.startswith("gw") or workers < 2:
        return
    low, high = auto_port_range()
    width = (high - low + 1) // workers
    start = low + int(worker[2:]) * width
    os.environ[RANGE_ENV] = f"{start}-{start + width - 1}"
