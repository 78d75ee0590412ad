"""The systemd units agree with v11ops.yaml (ports, paths, timeouts) and are hardened."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.deploy_artifacts.artifacts import (
    CONFIG_FILE,
    REPO,
    SYSTEMD,
    V11OPS_BIN,
    exec_argv,
    host_config,
    one,
    options,
    read_env_file,
    read_unit,
    seconds,
)

ROUTER = SYSTEMD / "v11ops-router.service"
CONTROLLER = SYSTEMD / "v11ops-controller.service"
NODE = SYSTEMD / "v11ops-node@.service"
UNITS = (ROUTER, CONTROLLER, NODE)

HARDENING = {
    "User": "v11ops",
    "Group": "v11ops",
    "NoNewPrivileges": "yes",
    "ProtectSystem": "strict",
    "ProtectHome": "yes",
    "PrivateTmp": "yes",
    "PrivateDevices": "yes",
    "ProtectKernelTunables": "yes",
    "ProtectKernelModules": "yes",
    "ProtectKernelLogs": "yes",
    "ProtectControlGroups": "yes",
    "ProtectClock": "yes",
    "ProtectHostname": "yes",
    "ProtectProc": "invisible",
    "RestrictAddressFamilies": "AF_UNIX AF_INET AF_INET6",
    "RestrictNamespaces": "yes",
    "RestrictRealtime": "yes",
    "RestrictSUIDSGID": "yes",
    "LockPersonality": "yes",
    "RemoveIPC": "yes",
    "CapabilityBoundingSet": "",
    "AmbientCapabilities": "",
    "SystemCallArchitectures": "native",
    "SystemCallFilter": "@system-service",
    "UMask": "0077",
    "KillSignal": "SIGTERM",
}
# `systemd-analyze security` exposure (0 best, 10 worst); deploy/README.md records the figures.
MAX_EXPOSURE = 2.0


def test_router_unit_runs_the_router_on_the_addresses_of_the_config() -> None:
    config = host_config()
    argv = exec_argv(read_unit(ROUTER))
    assert argv[:3] == [V11OPS_BIN, "router", "run"]
    # The same arguments `v11ops up` gives the router (src/v11ops/deploy/stack.py).
    assert options(argv) == {
        "--listen": config.router.listen,
        "--admin-socket": str(config.admin_socket_path),
        "--state-file": str(config.state_path / "routes.json"),
        "--metrics-listen": config.router.metrics_listen,
        "--shutdown-timeout": "30",
    }


def test_router_stop_timeout_outlasts_its_shutdown_timeout() -> None:
    unit = read_unit(ROUTER)
    shutdown = float(options(exec_argv(unit))["--shutdown-timeout"])
    assert seconds(one(unit, "Service", "TimeoutStopSec")) > shutdown
    assert one(unit, "Service", "Restart") == "always"


def test_controller_unit_runs_the_controller_on_the_installed_config() -> None:
    unit = read_unit(CONTROLLER)
    assert exec_argv(unit) == [V11OPS_BIN, "controller", "run", "--file", str(CONFIG_FILE)]
    assert f"V11OPS_CONFIG={CONFIG_FILE}" in unit["Service"]["Environment"]
    assert "v11ops-router.service" in one(unit, "Unit", "After").split()
    assert "v11ops-router.service" in one(unit, "Unit", "Wants").split()


def test_controller_restart_leaves_the_slots_it_started_running() -> None:
    # The slots are children in the controller's cgroup; the controller re-adopts them.
    unit = read_unit(CONTROLLER)
    assert one(unit, "Service", "KillMode") == "process"
    assert "process runtime starts each slot" in CONTROLLER.read_text()


@pytest.mark.parametrize("slot", ["blue", "green"])
def test_node_template_runs_what_the_controller_would_run_in_that_slot(slot: str) -> None:
    config = host_config()
    env = read_env_file(SYSTEMD / f"slot-{slot}.env")
    port = config.slot_port(slot)
    assert port is not None and env["V11_PORT"] == str(port)
    argv = exec_argv(read_unit(NODE), env, instance=slot)
    release = config.release(env["V11_RELEASE"], slot=slot, port=port)
    # The config runs `{python} -m v11ops.cli.main node run ...`; the unit runs the script.
    assert release.argv[1:3] == ("-m", "v11ops.cli.main")
    assert argv[0] == V11OPS_BIN
    assert argv[1:] == [*release.argv[3:], "--drain-timeout", f"{config.service.drain_timeout_s:g}"]


def test_node_stop_timeout_outlasts_the_drain_timeout() -> None:
    config = host_config()
    unit = read_unit(NODE)
    drain = float(
        options(exec_argv(unit, read_env_file(SYSTEMD / "slot-blue.env")))["--drain-timeout"]
    )
    assert drain == config.service.drain_timeout_s
    assert seconds(one(unit, "Service", "TimeoutStopSec")) > drain
    assert one(unit, "Service", "EnvironmentFile") == "/etc/v11ops/slot-%i.env"
    assert one(unit, "Service", "Restart") == "on-failure"  # a drained stop exits 0


def test_node_template_says_the_controller_does_not_need_it() -> None:
    assert "NOT needed with v11ops-controller.service" in NODE.read_text()


@pytest.mark.parametrize("path", UNITS, ids=lambda p: p.name)
def test_every_unit_is_hardened_and_may_write_only_the_state_dir(path: Path) -> None:
    config = host_config()
    service = read_unit(path)["Service"]
    for key, value in HARDENING.items():
        assert service.get(key) == [value], f"{path.name}: {key}"
    assert service["ReadWritePaths"] == [str(config.state_path)]
    assert service["StateDirectory"] == [config.state_path.name]
    assert Path("/var/lib", config.state_path.name) == config.state_path


@pytest.mark.parametrize("path", UNITS, ids=lambda p: p.name)
def test_systemd_analyze_verify_accepts_the_unit(path: Path, tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        # Not a CI failure either: .ci/run does not install systemd (it is not wanted on these
        # machines), and the parsing tests above check every unit on every run.
        pytest.skip("systemd-analyze is not installed; the unit files were checked by parsing")
    # verify insists that ExecStart exists: point it at this checkout's v11ops.
    real = Path(sys.executable).with_name("v11ops")
    copy = tmp_path / path.name
    copy.write_text(path.read_text().replace(V11OPS_BIN, str(real)))
    name = copy.name.replace("@.", "@blue.")
    result = subprocess.run(
        [analyze, "verify", "--man=no", name],
        cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    # A bad value is only a warning (exit 0) to systemd, so any line about our unit fails.
    ours = [line for line in (result.stdout + result.stderr).splitlines() if "v11ops" in line]
    assert result.returncode == 0 and not ours, result.stdout + result.stderr


def test_the_router_talks_to_loopback_only() -> None:
    # Behind nginx: clients arrive through nginx on loopback, the slots are on 127.0.0.1.
    service = read_unit(ROUTER)["Service"]
    assert service["IPAddressDeny"] == ["any"]
    assert service["IPAddressAllow"] == ["localhost"]


def _exposure(analyze: str, path: Path) -> float:
    result = subprocess.run(
        [analyze, "security", "--offline=yes", "--no-pager", str(path)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    match = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", result.stdout)
    assert match, result.stdout[-500:] + result.stderr
    return float(match.group(1))


@pytest.mark.parametrize("path", UNITS, ids=lambda p: p.name)
def test_systemd_analyze_security_rates_the_unit_as_recorded(path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed; the directives were checked by parsing")
    exposure = _exposure(analyze, path)
    assert exposure <= MAX_EXPOSURE
    recorded = (REPO / "deploy" / "README.md").read_text()
    assert f"| `{path.name}` | {exposure:.1f} |" in recorded, "update the score in deploy/README.md"
