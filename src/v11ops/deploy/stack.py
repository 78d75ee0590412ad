"""Start and stop the long-lived processes of a stack: the router and the controller daemon.

Both run detached (their own session), so a CLI command, or the controller itself, can exit or
crash without taking the data path down.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from v11ops.config import Config
from v11ops.deploy.client import ControllerClient, controller_socket
from v11ops.deploy.routers import nginx_router
from v11ops.router.client import RouterClient
from v11ops.router.errors import NginxError, RouterError


class StackError(RuntimeError):
    """A stack process did not come up; the message names its log file."""


def _spawn(argv: list[str], log: Path, env: dict[str, str] | None = None) -> int:
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        proc = subprocess.Popen(
            argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True, env={**os.environ, **(env or {})},
        )  # fmt: skip
    return proc.pid


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "v11ops.cli.main", *args]


def router_alive(config: Config) -> bool:
    if config.router.kind == "nginx":
        return nginx_router(config).health()["status"] == "ok"
    try:
        with RouterClient(config.admin_socket_path, timeout_s=2.0) as client:
            client.health()
    except RouterError:
        return False
    return True


def ensure_router(config: Config, timeout_s: float = 15.0) -> bool:
    """Start the builtin router unless it already runs; True when it was started now."""
    if router_alive(config):
        return False
    if config.router.kind == "nginx":
        return _start_nginx(config)
    state = config.state_path
    argv = _cli(
        "router", "run", "--listen", config.router.listen,
        "--admin-socket", str(config.admin_socket_path),
        "--state-file", str(state / "routes.json"),
    )  # fmt: skip
    if config.router.metrics_listen:
        argv += ["--metrics-listen", config.router.metrics_listen]
    argv += _tls_args(config) + _limit_args(config)
    pid = _spawn(argv, state / "logs" / "router.log")
    (state / "router.pid").write_text(str(pid))
    _wait(lambda: router_alive(config), timeout_s, "router", state / "logs" / "router.log")
    return True


def _tls_args(config: Config) -> list[str]:
    tls = config.router.tls
    files = tls.files(config.config_dir)
    if files is None:
        return []
    argv = ["--tls-cert", str(files.cert), "--tls-key", str(files.key)]
    if tls.redirect_http_listen:
        argv += ["--redirect-http-listen", tls.redirect_http_listen]
    return argv


def _limit_args(config: Config) -> list[str]:
    limits = config.router.limits
    trusted = limits.trust_forwarded_from or ["none"]
    argv = [
        "--header-timeout", str(limits.header_timeout_s),
        "--max-header-bytes", str(limits.max_header_bytes),
        "--max-body-bytes", str(limits.max_body_bytes),
    ]  # fmt: skip
    for net in trusted:
        argv += ["--trust-forwarded-from", net]
    return argv


def _start_nginx(config: Config) -> bool:
    if config.router.nginx.mode == "include":
        raise StackError(
            "router.kind nginx in include mode: start your nginx (it includes"
            f" {config.router.nginx.include_path}); v11ops only writes that file and reloads it"
        )
    try:
        nginx_router(config).start()
    except (NginxError, OSError) as exc:
        raise StackError(f"nginx did not start: {exc}") from None
    return True


def controller_alive(config: Config) -> bool:
    with ControllerClient(controller_socket(config), timeout_s=2.0) as client:
        return client.alive()


def ensure_controller(
    config: Config, timeout_s: float = 30.0, env: dict[str, str] | None = None
) -> bool:
    """Start the controller daemon unless it already runs; True when it was started now."""
    if controller_alive(config):
        return False
    assert config.source is not None, "the controller daemon reads its config from a file"
    log = config.state_path / "logs" / "controller.log"
    _spawn(_cli("controller", "run", "--file", str(config.source)), log, env)
    _wait(lambda: controller_alive(config), timeout_s, "controller", log)
    return True


def stop_controller(config: Config, stop_slots: bool = True, timeout_s: float = 60.0) -> None:
    if not controller_alive(config):
        return
    with ControllerClient(controller_socket(config)) as client:
        client.shutdown(stop_slots=stop_slots)
    pid = _read_pid(config.state_path / "controller.pid")
    _wait(lambda: not controller_alive(config) and not _running(pid), timeout_s, "controller stop",
          config.state_path / "logs" / "controller.log")  # fmt: skip


def stop_router(config: Config, timeout_s: float = 30.0) -> None:
    if config.router.kind == "nginx":
        if config.router.nginx.mode == "own":
            nginx_router(config).stop(timeout_s)
        return
    pid = _read_pid(config.state_path / "router.pid")
    if pid is None or not _running(pid):
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    _wait(lambda: not _running(pid), timeout_s, "router stop",
          config.state_path / "logs" / "router.log")  # fmt: skip


def _read_pid(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def _running(pid: int | None) -> bool:
    if pid is None:
        return False
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def _wait(done: object, timeout_s: float, what: str, log: Path) -> None:
    assert callable(done)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if done():
            return
        time.sleep(0.05)
    raise StackError(f"{what} did not finish within {timeout_s:g}s{_last_line(log)}; see {log}")


def _last_line(log: Path) -> str:
    """The log's last line, which usually names the cause (such as `address already in use`)."""
    try:
        lines = log.read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    return f" (last log line: {lines[-1][-300:]})" if lines else ""
