"""The serving process tunes the interpreter before it serves: the GIL hand-over interval that
keeps the writer thread from waiting on the event loop (why: server.GIL_SWITCH_INTERVAL_S)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from v11node import server
from v11node.node import NodeSettings


def test_serve_shortens_the_gil_switch_interval(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[float] = []
    monkeypatch.setattr(
        server._DrainingServer, "run", lambda self: seen.append(sys.getswitchinterval())
    )
    default = sys.getswitchinterval()
    settings = NodeSettings(db_url=f"sqlite:///{tmp_path}/ledger.db", verify_processes=0)
    try:
        server.serve(settings, port=9)
    finally:
        sys.setswitchinterval(default)
    assert seen == [pytest.approx(server.GIL_SWITCH_INTERVAL_S)]
    assert default > server.GIL_SWITCH_INTERVAL_S
