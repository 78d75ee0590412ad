"""`v11ops router ...`: one-line errors, status/set/drain against a router, SIGTERM."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from tests.router.conftest import StartRouter, StartUpstream
from tests.router.harness import closed_port
from v11ops.cli.main import app
from v11ops.router import RouterClient, RouterUnavailable

runner = CliRunner()


def _cli(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["router", *args])
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--target", "blue"], "must be NAME=URL[@WEIGHT]"),
        (["--target", "blue=ftp://h:1"], "expected http://HOST:PORT"),
        (["--target", "blue=http://h:1@ten"], "weight 'ten'"),
        (["--target", "blue=http://h:1", "--target-version", "red=2"], "no --target defines"),
    ],
)
def test_set_with_bad_input_is_one_line_and_exit_code_2(
    args: list[str], message: str, short_dir: Path
) -> None:
    code, _, err = _cli("set", "--admin-socket", str(short_dir / "a.sock"), *args)
    assert code == 2
    assert message in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_commands_against_a_missing_router_fail_with_exit_1(short_dir: Path) -> None:
    code, _, err = _cli("status", "--admin-socket", str(short_dir / "none.sock"))
    assert code == 1 and "is `v11ops router run` running" in err


def test_set_status_drain_undrain_against_a_running_router(
    upstream: StartUpstream, router: StartRouter
) -> None:
    blue, green = upstream("blue"), upstream("green")
    r = router(blue.target())
    sock = ["--admin-socket", str(r.socket_path)]
    code, out, _ = _cli(
        "set", *sock, "--target", f"blue={blue.url}@90", "--target", f"green={green.url}@10",
        "--target-version", "green=2.0",
    )  # fmt: skip
    assert code == 0 and "revision 2: blue=90, green=10" in out
    code, out, _ = _cli("status", *sock, "--json")
    routes = json.loads(out)["routes"]
    assert [(t["name"], t["weight"], t["version"]) for t in routes["targets"]] == [
        ("blue", 90, ""),
        ("green", 10, "2.0"),
    ]
    code, out, _ = _cli("status", *sock)
    assert code == 0 and "revision 2" in out
    code, out, _ = _cli("drain", *sock, "green", "--json")
    assert code == 0 and json.loads(out)["drained"] is True
    code, _, err = _cli("drain", *sock, "purple")
    assert code == 2 and "no target 'purple'" in err
    code, out, _ = _cli("undrain", *sock, "green")
    assert code == 0 and green.url in out


@pytest.mark.slow
def test_router_process_finishes_in_flight_requests_on_sigterm_and_exits_0(
    upstream: StartUpstream, short_dir: Path
) -> None:
    blue = upstream("blue")
    port = closed_port()
    sock = short_dir / "admin.sock"
    script = "from v11ops.cli.main import main; main()"
    proc = subprocess.Popen([
        sys.executable, "-c", script, "router", "run",
        "--listen", f"127.0.0.1:{port}", "--admin-socket", str(sock),
        "--state-file", str(short_dir / "state.json"), "--target", f"blue={blue.url}",
    ])  # fmt: skip
    try:
        _wait_healthy(sock)
        with ThreadPoolExecutor(1) as pool:
            slow = pool.submit(httpx.get, f"http://127.0.0.1:{port}/?sleep=1", timeout=10)
            blue.wait_sleeping()
            proc.send_signal(signal.SIGTERM)
            response = slow.result(10)
        assert response.status_code == 200 and response.json()["name"] == "blue"
        assert proc.wait(10) == 0
        assert not sock.exists()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)


def _wait_healthy(sock: Path) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            with RouterClient(sock, timeout_s=1) as client:
                client.health()
                return
        except RouterUnavailable:
            time.sleep(0.05)
    raise AssertionError("router did not come up")
