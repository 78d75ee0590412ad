"""A monitoring component that ignores SIGTERM is killed at the deadline and its record goes; a
record that cannot be read is no record; one that exits or never gets ready is reported. Real
processes (python standing in for the component)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from v11ops.monitoring.stack import MonitoringError
from v11ops.monitoring.stack import _process as proc
from v11ops.monitoring.stack._components import Component
from v11ops.monitoring.stack._layout import Layout
from v11ops.monitoring.stack._stack import _status, _wait_healthy
from v11ops.runtime import free_port

STUBBORN = (
    "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('up', flush=True);"
    " time.sleep(60)"
)


def test_a_component_ignoring_sigterm_is_killed_and_its_record_removed(tmp_path: Path) -> None:
    record_path = tmp_path / "run" / "stubborn.json"
    record_path.parent.mkdir()
    log = tmp_path / "stubborn.log"
    record = proc.spawn([sys.executable, "-c", STUBBORN], log, record_path, "digest")
    deadline = time.monotonic() + 10
    while "up" not in log.read_text() and time.monotonic() < deadline:  # its handler is set
        time.sleep(0.02)
    assert proc.read_record(record_path) == record and record.alive()
    proc.terminate(record, record_path, timeout_s=0.3)
    assert not record.alive()
    assert not record_path.exists()


def test_an_unreadable_record_is_no_record(tmp_path: Path) -> None:
    path = tmp_path / "x.json"
    assert proc.read_record(path) is None
    path.write_text("{not json")
    assert proc.read_record(path) is None
    path.write_text('{"pid": 1}')
    assert proc.read_record(path) is None


# -- waiting for health ---------------------------------------------------------------------------


def _component(listen: str) -> Component:
    return Component("prometheus", "python3", "python3", listen, "/-/ready", ())


def test_a_component_that_exited_is_reported_with_its_last_log_line(tmp_path: Path) -> None:
    layout = Layout(tmp_path)
    layout.log("prometheus").parent.mkdir(parents=True)
    layout.log("prometheus").write_text('level=error msg="opening storage failed"\n')
    with pytest.raises(MonitoringError, match=r"prometheus exited \(last log line: level=error"):
        _wait_healthy([_component(f"127.0.0.1:{free_port()}")], layout, 1.0)


def test_a_running_component_that_never_gets_ready_is_reported_and_shown_unhealthy(
    tmp_path: Path,
) -> None:
    layout = Layout(tmp_path)
    layout.record("prometheus").parent.mkdir(parents=True)
    part = _component(f"127.0.0.1:{free_port()}")  # nothing answers there
    record = proc.spawn([sys.executable, "-c", "import time; time.sleep(60)"],
                        layout.log("prometheus"), layout.record("prometheus"), "d")  # fmt: skip
    try:
        with pytest.raises(MonitoringError, match=r"did not become ready at http://127\.0\.0\.1"):
            _wait_healthy([part], layout, 0.3)
        status = _status(part, layout)
        assert (status.running, status.healthy, status.pid) == (True, False, record.pid)
    finally:
        proc.terminate(record, layout.record("prometheus"), timeout_s=5)
