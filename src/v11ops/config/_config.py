"""The root of `v11ops.yaml` and how a release is resolved from it."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from typing import Any

from pydantic import Field, PrivateAttr, field_validator, model_validator
from pydantic_core import PydanticCustomError

from v11ops.config._analysis import AnalysisTemplates, builtin_templates
from v11ops.config._backup import Backup
from v11ops.config._base import Model, PortSpec, split_host_port
from v11ops.config._errors import ConfigError, UnknownReleaseError
from v11ops.config._gates import Gates
from v11ops.config._hooks import Hooks
from v11ops.config._monitoring import Monitoring
from v11ops.config._notify import Notifications
from v11ops.config._release import ResolvedRelease
from v11ops.config._router import Router
from v11ops.config._secrets import render_env, secret_warnings
from v11ops.config._service import Release, Service
from v11ops.config._strategy import Analysis, Strategy
from v11ops.config._templates import render

_VERSION = re.compile(r"^[0-9A-Za-z][0-9A-Za-z._+-]{0,63}$")
_SLOT = re.compile(r"^[a-z][a-z0-9-]{0,31}$")
ROLLING_SLOT_PREFIX = "pool-"
_UNIX_SOCKET_MAX = 107  # sun_path is 108 bytes on Linux, including the terminating NUL


class Slot(Model):
    """A named place where one release runs; a fixed port or `auto` (a free port per start)."""

    port: PortSpec = "auto"


def _default_slots() -> dict[str, Slot]:
    # The ports of the original V11 deployment material.
    return {"blue": Slot(port=9003), "green": Slot(port=9004)}


class Config(Model):
    """`v11ops.yaml`. Build it with `load_config(path)`; relative paths are resolved against
    the folder of that file."""

    service: Service
    releases: dict[str, Release | None] = Field(
        min_length=1, description="version -> overrides; `1.0.0: {}` inherits everything"
    )
    router: Router = Router()
    strategy: Strategy = Field(default_factory=Strategy)
    gates: Gates = Field(default_factory=Gates)
    slots: dict[str, Slot] = Field(default_factory=_default_slots)
    hooks: Hooks = Field(default_factory=Hooks)
    monitoring: Monitoring = Field(default_factory=Monitoring)
    notifications: Notifications = Field(default_factory=Notifications)
    backup: Backup = Field(default_factory=Backup)
    analysis: AnalysisTemplates = Field(
        default_factory=builtin_templates,
        description="named analysis templates; error-rate, latency and latency-vs-baseline are "
        "built in (a template of the same name replaces one)",
    )
    state_dir: str = Field(
        default=".v11ops", min_length=1, description="relative to the config file"
    )

    _source: Path | None = PrivateAttr(None)
    _label: str = PrivateAttr("")

    @field_validator("releases")
    @classmethod
    def _versions_are_well_formed(cls, releases: dict[str, Release | None]) -> Any:
        for version in releases:
            if not _VERSION.fullmatch(version):
                raise PydanticCustomError(
                    "version",
                    "not a valid version (letters, digits and . _ + -, such as 1.2.0)",
                    {"key": version},
                )
        return releases

    @field_validator("slots")
    @classmethod
    def _slots_are_well_formed(cls, slots: dict[str, Slot]) -> Any:
        for name in slots:
            if not _SLOT.fullmatch(name):
                raise PydanticCustomError(
                    "slot", "not a valid slot name (lowercase letters, digits, -)", {"key": name}
                )
        if len(slots) < 2:
            raise ValueError("blue-green needs at least two slots, e.g. blue and green")
        ports = [s.port for s in slots.values() if s.port != "auto"]
        if len(ports) != len(set(ports)):
            raise ValueError("two slots have the same port")
        return slots

    @model_validator(mode="after")
    def _canary_analysis_templates_exist(self) -> Config:
        for i, step in enumerate(self.strategy.canary.steps):
            if not isinstance(step, Analysis):
                continue
            for name in step.analysis.templates:
                if name not in self.analysis:
                    raise PydanticCustomError(
                        "unknown_template",
                        "unknown analysis template '{name}' (known: {known})",
                        {
                            "path": f"strategy.canary.steps.{i}.analysis.templates",
                            "name": name,
                            "known": ", ".join(self.analysis),
                        },
                    )
        return self

    @model_validator(mode="after")
    def _router_port_is_not_a_slot_port(self) -> Config:
        _host, listen_port = split_host_port(self.router.listen)
        for name, slot in self.slots.items():
            if slot.port == listen_port:
                raise PydanticCustomError(
                    "port_clash",
                    "port {port} is also the port of router.listen",
                    {"path": f"slots.{name}.port", "port": listen_port},
                )
        return self

    # -- where things are --------------------------------------------------------------------

    @property
    def source(self) -> Path | None:
        """The file this config was loaded from (None when built in code)."""
        return self._source

    @property
    def config_dir(self) -> Path:
        """Folder that relative paths are resolved against."""
        return (self._source.parent if self._source else Path.cwd()).resolve()

    @property
    def state_path(self) -> Path:
        """Absolute state directory (journal, instance records, logs, router socket)."""
        return (self.config_dir / self.state_dir).resolve()

    @property
    def admin_socket_path(self) -> Path:
        """Absolute path of the router's admin socket."""
        rendered = self.router.admin_socket.replace("{state_dir}", str(self.state_path))
        return self.config_dir / rendered

    @property
    def readiness_deadline_s(self) -> float:
        """strategy.blue_green.readiness.deadline_s, or service.start_timeout_s when unset."""
        return self.strategy.blue_green.readiness.deadline_s or self.service.start_timeout_s

    @property
    def versions(self) -> list[str]:
        """Known release versions in file order."""
        return list(self.releases)

    def rolling_slot_names(self) -> list[str]:
        """The slots a rolling pool uses: `pool-1` .. `pool-(instances + max(max_surge, 1))`, on
        free ports: enough names for the old and the new instances during a surge, and one spare
        even without surge (a run that may not take the last ready instance out surges by one)."""
        r = self.strategy.rolling
        spare = max(r.max_surge, 1)
        return [f"{ROLLING_SLOT_PREFIX}{i}" for i in range(1, r.instances + spare + 1)]

    def slot_port(self, slot: str) -> int | None:
        """The fixed port of a slot, or None when it is `auto`."""
        port = self._slot(slot).port
        return None if port == "auto" else port

    # -- releases ----------------------------------------------------------------------------

    def release(self, version: str, *, slot: str, port: int) -> ResolvedRelease:
        """Resolve `version` for `slot` on `port`: argv, env and workdir rendered, references
        resolved. Raises UnknownReleaseError (listing the known versions) or ConfigError."""
        if version not in self.releases:
            raise UnknownReleaseError(version, self.versions, self._file)
        self._slot(slot)
        spec = self.releases[version] or Release()
        command = spec.command or self.service.command
        env = {**self.service.env, **spec.env}
        values = {
            "port": port,
            "version": version,
            "slot": slot,
            "state_dir": str(self.state_path),
            "python": sys.executable,
        }
        rendered_env = render_env(env, values, self.config_dir, f"releases.{version}.env")
        workdir = self.config_dir
        if self.service.workdir is not None:
            workdir = self.config_dir / render(self.service.workdir, values)
        return ResolvedRelease(
            service=self.service.name,
            version=version,
            slot=slot,
            port=port,
            host=self.service.host,
            argv=tuple(render(arg, values) for arg in command),
            env=rendered_env,
            workdir=workdir,
            live_path=self.service.health.live,
            ready_path=self.service.health.ready,
            start_timeout_s=self.service.start_timeout_s,
            drain_timeout_s=self.service.drain_timeout_s,
            definition={
                "service": self.service.name,
                "version": version,
                "command": list(command),
                "env": env,
                "workdir": self.service.workdir,
            },
        )

    # -- advice ------------------------------------------------------------------------------

    def warnings(self) -> list[str]:
        """Things that are valid but unwise, e.g. a token written in plaintext."""
        advice = self.notifications.warnings()  # a Slack webhook's path is its credential
        warned = {line.split(" ", 1)[0] for line in advice}
        advice += [line for line in secret_warnings(self) if line.split(" ", 1)[0] not in warned]
        socket_bytes = len(os.fsencode(self.admin_socket_path))
        if socket_bytes > _UNIX_SOCKET_MAX:
            advice.append(
                f"router.admin_socket: {self.admin_socket_path} is {socket_bytes} bytes, unix "
                f"sockets allow {_UNIX_SOCKET_MAX}; use a shorter state_dir or admin_socket"
            )
        return advice

    def _attach(self, source: Path, label: str) -> Config:
        # Called by load_config: where the file is (for relative paths) and how to name it.
        self._source = source.resolve()
        self._label = label
        return self

    @property
    def _file(self) -> str:
        return self._label

    def _slot(self, slot: str) -> Slot:
        if slot in self.rolling_slot_names() and slot not in self.slots:
            return Slot(port="auto")
        if slot not in self.slots:
            known = ", ".join(self.slots)
            raise ConfigError(f"unknown slot {slot!r} (slots: {known})", file=self._file)
        return self.slots[slot]
