"""Auto ports come from a range no outgoing connection uses, and never twice from one process."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from v11ops.runtime import free_port
from v11ops.runtime._ports import RANGE_ENV, PortRangeError, auto_port_range


def test_the_default_range_ends_below_the_kernels_ephemeral_range(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(RANGE_ENV, raising=False)
    with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
        ephemeral_low = int(f.read().split()[0])
    low, high = auto_port_range()
    assert low == 20000
    assert high == ephemeral_low - 1


def test_ports_come_from_the_configured_range_and_are_never_repeated(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(RANGE_ENV, "41000-41007")
    ports = [free_port() for _ in range(4)]
    assert len(set(ports)) == 4
    assert all(41000 <= p <= 41007 for p in ports)


def test_a_port_someone_listens_on_is_skipped(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        monkeypatch.setenv(RANGE_ENV, f"{port}-{port}")
        with pytest.raises(OSError, match=f"no free port in {port}-{port}"):
            free_port()


@pytest.mark.parametrize("text", ["20000", "a-b", "30000-20000", "80-90", "60000-70000"])
def test_a_malformed_range_names_the_variable(monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    monkeypatch.setenv(RANGE_ENV, text)
    with pytest.raises(PortRangeError, match=RANGE_ENV):
        auto_port_range()


def test_the_cli_reports_a_malformed_range_in_one_line() -> None:
    v11ops = str(Path(sys.executable).with_name("v11ops"))
    env = {**os.environ, RANGE_ENV: "nope"}
    done = subprocess.run([v11ops, "demo"], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"error: {RANGE_ENV}='nope': expected LOW-HIGH within 1024-65535"
    ]
