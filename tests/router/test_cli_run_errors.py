"""`v11ops router ...` in process (CliRunner): bad options and unusable addresses fail in one
line before anything starts; set, drain and undrain report a missing router and their outcome.
"""

from __future__ import annotations

import json
import socket
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from tests.router.conftest import StartRouter, StartUpstream
from v11ops.cli.main import app

runner = CliRunner()


def _run(short_dir: Path, *args: str) -> tuple[int, str]:
    result = runner.invoke(
        app,
        ["router", "run", "--admin-socket", str(short_dir / "a.sock"), *args],
    )
    return result.exit_code, result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--listen", "8080"], "--listen '8080' must be HOST:PORT, e.g. 127.0.0.1:8080"),
        (["--listen", ":8080"], "--listen ':8080' must be HOST:PORT"),
        (["--listen", "127.0.0.1:99999"], "--listen '127.0.0.1:99999' must be HOST:PORT"),
        (["--metrics-listen", "localhost"], "--metrics-listen 'localhost' must be HOST:PORT"),
        (["--admin-listen", "h:x"], "--admin-listen 'h:x' must be HOST:PORT"),
        (["--target", "blue=http://127.0.0.1:1@heavy"], "weight 'heavy' must be a whole number"),
        (["--tls-cert", "c.pem"], "--tls-cert and --tls-key go together: give both, or neither"),
        (["--tls-key", "k.pem"], "--tls-cert and --tls-key go together: give both, or neither"),
        (["--redirect-http-listen", "127.0.0.1:1"], "--redirect-http-listen needs --tls-cert"),
        (["--tls-cert", "c", "--tls-key", "k", "--redirect-http-listen", "80"], "HOST:PORT"),
    ],
)
def test_a_bad_address_or_target_is_one_line_and_exit_2(
    short_dir: Path, args: list[str], message: str
) -> None:
    code, err = _run(short_dir, *args)
    assert code == 2
    assert err.startswith("error: ") and message in err
    assert len(err.strip().splitlines()) == 1


def test_an_unreadable_or_empty_admin_token_file_is_named(short_dir: Path) -> None:
    code, err = _run(short_dir, "--admin-token-file", str(short_dir / "absent"))
    assert code == 2
    assert f"cannot read --admin-token-file {short_dir / 'absent'}: No such file" in err
    (short_dir / "empty").write_text("\n")
    code, err = _run(short_dir, "--admin-token-file", str(short_dir / "empty"))
    assert code == 2 and f"--admin-token-file {short_dir / 'empty'} is empty" in err


def test_a_drain_that_times_out_says_what_is_still_in_flight_and_exits_1(
    upstream: StartUpstream, router: StartRouter
) -> None:
    blue = upstream("blue")
    r = router(blue.target())
    drain = ["router", "drain", "--admin-socket", str(r.socket_path), "blue", "--timeout", "0.2"]
    with httpx.Client(base_url=r.url, timeout=10) as http, ThreadPoolExecutor(1) as pool:
        slow = pool.submit(http.get, "/", params={"sleep": "2"})
        blue.wait_sleeping()
        result = runner.invoke(app, drain)
        assert result.exit_code == 1
        assert "blue still has 1 request(s) in flight after 0." in result.stderr
        assert slow.result().status_code == 200, "the drain did not cut the request"


def test_an_admin_listener_without_a_token_is_a_usage_error(short_dir: Path) -> None:
    code, err = _run(short_dir, "--admin-listen", "127.0.0.1:0")
    assert code == 2
    assert "--admin-listen needs --admin-token-file" in err


def test_a_busy_listen_port_is_a_one_line_failure(short_dir: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        code, err = _run(
            short_dir, "--listen", f"127.0.0.1:{port}", "--state-file", str(short_dir / "s.json")
        )
    assert code == 1
    assert err.startswith("error: cannot start the router: ") and "in use" in err


def test_set_and_undrain_report_a_missing_router_and_set_can_print_json(
    upstream: StartUpstream, router: StartRouter, short_dir: Path
) -> None:
    missing = ["--admin-socket", str(short_dir / "none.sock")]
    for args in (["set", *missing, "--target", "b=http://127.0.0.1:1"], ["undrain", *missing, "b"]):
        result = runner.invoke(app, ["router", *args])
        assert result.exit_code == 1 and "is `v11ops router run` running" in result.stderr
    bad_label = ["--target", "b=http://127.0.0.1:1", "--target-version", "b"]
    result = runner.invoke(app, ["router", "set", *missing, *bad_label])
    assert result.exit_code == 2 and "must be NAME=VERSION" in result.stderr

    blue = upstream("blue")
    r = router(blue.target())
    sock = ["--admin-socket", str(r.socket_path)]
    result = runner.invoke(app, ["router", "set", *sock, "--target", f"blue={blue.url}", "--json"])
    assert result.exit_code == 0
    assert json.loads(result.stdout)["targets"][0]["name"] == "blue"
    result = runner.invoke(app, ["router", "drain", *sock, "blue"])
    assert result.exit_code == 0 and result.stdout.startswith("drained blue in ")
