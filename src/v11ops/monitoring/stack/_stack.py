"""`monitor up | down | status`: render, start (or reload), stop and check the components."""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from v11ops.config import Config, split_host_port
from v11ops.monitoring.stack import _process as proc
from v11ops.monitoring.stack._components import Component, components, textfile_dir
from v11ops.monitoring.stack._errors import MonitoringError
from v11ops.monitoring.stack._layout import Layout
from v11ops.monitoring.stack._render import (
    alertmanager_config,
    prometheus_config,
    render_yaml,
    rules_folder,
)
from v11ops.monitoring.stack._targets import SlotLike, write_scrape_targets


@dataclass(frozen=True)
class ComponentStatus:
    name: str
    url: str
    pid: int | None
    running: bool
    healthy: bool
    action: str = ""  # what `up` did: started, restarted, reloaded, unchanged
    detail: str = ""

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


def up(config: Config, timeout_s: float = 30.0) -> list[ComponentStatus]:
    """Render the configs and make every component run them; idempotent."""
    parts = components(config)
    for part in parts:
        part.executable()  # every missing program is reported before anything starts
    layout = Layout.of(config)
    layout.root.mkdir(mode=0o700, parents=True, exist_ok=True)
    if textfile := textfile_dir(config):
        textfile.mkdir(parents=True, exist_ok=True)
    write_scrape_targets(config, current_slots(config))
    rendered = {"alertmanager": alertmanager_config, "prometheus": prometheus_config}
    for part in parts:
        if part.name in rendered:
            _install(part, render_yaml(rendered[part.name](config)))
    watched = _rule_files(config)
    _check_ports(parts, layout)
    actions = {part.name: _ensure(part, layout, watched) for part in parts}
    _wait_healthy(parts, layout, timeout_s)
    return [_status(part, layout, actions[part.name]) for part in parts]


def down(config: Config) -> list[str]:
    """Stop every component that runs; return the names of those stopped."""
    layout = Layout.of(config)
    stopped = []
    for part in reversed(components(config)):
        record = proc.read_record(layout.record(part.name))
        if record is None:
            continue
        if record.alive():
            stopped.append(part.name)
        proc.terminate(record, layout.record(part.name))
    return stopped


def status(config: Config) -> list[ComponentStatus]:
    layout = Layout.of(config)
    return [_status(part, layout) for part in components(config)]


def current_slots(config: Config) -> list[SlotLike]:
    """The slots as the controller's state database has them (none before the first `up`)."""
    path = config.state_path / "state.db"
    if not path.exists():
        return []
    from v11ops.deploy.state import StateDB

    db = StateDB(path)
    try:
        return list(db.slots().values())
    finally:
        db.close()


def _install(part: Component, text: str) -> None:
    """Write the component's config after its checker (promtool, amtool) accepts it; a bad
    config never replaces the one a running component uses."""
    assert part.config_file is not None and part.checker is not None
    fd, tmp = tempfile.mkstemp(prefix=".check-", suffix=".yml", dir=part.config_file.parent)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        checker = shutil.which(part.checker[0])
        if checker is not None:
            run = subprocess.run([checker, *part.checker[1:], tmp], capture_output=True,
                                 text=True, timeout=60)  # fmt: skip
            if run.returncode != 0:
                problem = (run.stderr or run.stdout).strip().replace(tmp, str(part.config_file))
                raise MonitoringError(f"the rendered {part.name} config does not check: {problem}")
        os.replace(tmp, part.config_file)
    finally:
        Path(tmp).unlink(missing_ok=True)


def _rule_files(config: Config) -> list[Path]:
    folder = rules_folder(config)
    return sorted(folder.glob("*.y*ml")) if folder else []


def _digest(part: Component, rules: list[Path]) -> str:
    """Of the config file, and for Prometheus of the rule files it loads: an edited rule is
    loaded by the next `monitor up`."""
    if part.config_file is None:
        return ""
    digest = hashlib.sha256(part.config_file.read_bytes())
    for path in rules if part.name == "prometheus" else []:
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _ensure(part: Component, layout: Layout, rules: list[Path]) -> str:
    """Start it, restart it (flags changed) or reload it (config changed); say which."""
    path = layout.record(part.name)
    record = proc.read_record(path)
    argv, digest = part.argv(), _digest(part, rules)
    if record is not None and record.alive():
        if record.argv == argv:
            if record.config_digest == digest:
                return "unchanged"
            proc.reload(record, path, digest)
            return "reloaded"
        proc.terminate(record, path)
        action = "restarted"
    else:
        action = "started"
    layout.data(part.name).mkdir(parents=True, exist_ok=True)
    proc.spawn(argv, layout.log(part.name), path, digest)
    return action


def _check_ports(parts: list[Component], layout: Layout) -> None:
    """Before anything starts: the address of each component we would start must be free."""
    for part in parts:
        record = proc.read_record(layout.record(part.name))
        if (record is None or not record.alive()) and _listening(part.listen):
            raise MonitoringError(
                f"{part.listen} is in use by another process; stop it or set "
                f"monitoring.{part.name.replace('-', '_')}.listen to a free address"
            )


def _wait_healthy(parts: list[Component], layout: Layout, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    pending = list(parts)
    while pending:
        part = pending[0]
        record = proc.read_record(layout.record(part.name))
        if record is None or not record.alive():
            raise MonitoringError(f"{part.name} exited{_last_line(layout.log(part.name))}; "
                                  f"see {layout.log(part.name)}")  # fmt: skip
        if _healthy(part):
            pending.pop(0)
        elif time.monotonic() > deadline:
            raise MonitoringError(
                f"{part.name} did not become ready at {part.url}{part.health_path} within "
                f"{timeout_s:g}s; see {layout.log(part.name)}"
            )
        else:
            time.sleep(0.1)


def _status(part: Component, layout: Layout, action: str = "") -> ComponentStatus:
    record = proc.read_record(layout.record(part.name))
    running = record is not None and record.alive()
    healthy = running and _healthy(part)
    detail = _detail(part) if healthy else ""
    pid = record.pid if record is not None and running else None
    return ComponentStatus(part.name, part.url, pid, running, healthy, action, detail)


def _healthy(part: Component) -> bool:
    try:
        return httpx.get(part.url + part.health_path, timeout=2.0).status_code == 200
    except httpx.HTTPError:
        return False


def _detail(part: Component) -> str:
    """One line of what the component sees: targets up, alerts firing."""
    try:
        if part.name == "prometheus":
            targets = httpx.get(f"{part.url}/api/v1/targets?state=active", timeout=2.0).json()
            active = targets["data"]["activeTargets"]
            up_count = sum(t["health"] == "up" for t in active)
            return f"{up_count}/{len(active)} targets up"
        if part.name == "alertmanager":
            alerts = httpx.get(f"{part.url}/api/v2/alerts?active=true&silenced=false"
                               "&inhibited=false", timeout=2.0).json()  # fmt: skip
            return f"{len(alerts)} alerts firing"
    except (httpx.HTTPError, ValueError, KeyError, TypeError):
        return ""
    return ""


def _listening(listen: str) -> bool:
    host, port = split_host_port(listen)
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def _last_line(log: Path) -> str:
    try:
        lines = log.read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    return f" (last log line: {lines[-1][-300:]})" if lines else ""
