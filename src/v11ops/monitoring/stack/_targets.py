"""File-based service discovery: what Prometheus scrapes, one JSON file per job.

The controller rewrites the files whenever a slot changes role (start, switch, rollback, scale
down) and at start; `monitor up` writes them too. Prometheus watches the folder and picks a
change up within a second, so a switch is visible on the next scrape.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any, Protocol

import structlog

from v11ops.config import Config, write_text_atomically
from v11ops.monitoring.stack._layout import Layout
from v11ops.monitoring.stack._listener import join_host_port, listener_address

# Job names follow the Prometheus monitoring mixins (node, prometheus, alertmanager); the
# slots' job is the service's name.
JOB_ROUTER = "v11ops-router"
JOB_CONTROLLER = "v11ops-controller"
JOB_NODE_EXPORTER = "node"
JOB_PROMETHEUS = "prometheus"
JOB_ALERTMANAGER = "alertmanager"

log = structlog.get_logger("v11ops.monitoring")

TargetGroups = list[dict[str, Any]]


class SlotLike(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def version(self) -> str | None: ...
    @property
    def port(self) -> int | None: ...
    @property
    def role(self) -> str: ...


def slot_job(config: Config) -> str:
    """The job of the service's instances: the service's name."""
    return config.service.name


def scrape_targets(config: Config, slots: Iterable[SlotLike]) -> dict[str, TargetGroups]:
    """Target groups per job. Every slot with a running release is a target labelled with its
    `slot`, `version` and `role`, so an alert about it names the release it is about."""
    host = config.service.host
    groups: dict[str, TargetGroups] = {
        slot_job(config): [
            _group(join_host_port(host, s.port), slot=s.name, version=s.version, role=s.role)
            for s in sorted(slots, key=lambda s: s.name)
            if s.role != "idle" and s.port is not None and s.version is not None
        ],
        JOB_PROMETHEUS: [_group(config.monitoring.prometheus.listen)],
        JOB_ALERTMANAGER: [_group(config.monitoring.alertmanager.listen)],
        JOB_NODE_EXPORTER: [_group(config.monitoring.node_exporter.listen)],
        JOB_ROUTER: [],
        JOB_CONTROLLER: [],
    }
    if config.router.kind == "builtin" and config.router.metrics_listen:
        groups[JOB_ROUTER].append(_group(config.router.metrics_listen))
    listener = listener_address(config)
    if listener is not None:
        groups[JOB_CONTROLLER].append(_group(join_host_port(*listener)))
    return groups


def write_scrape_targets(config: Config, slots: Iterable[SlotLike]) -> list[str]:
    """Rewrite the file of each job whose targets changed (atomically); return those jobs."""
    layout = Layout.of(config)
    changed = []
    for job, groups in scrape_targets(config, slots).items():
        path = layout.target_file(job)
        text = json.dumps(groups, indent=1, sort_keys=True) + "\n"
        try:
            if path.read_text() == text:
                continue
        except FileNotFoundError:
            pass
        write_text_atomically(path, text)
        changed.append(job)
    return changed


def publish_scrape_targets(config: Config, slots: Iterable[SlotLike]) -> None:
    """write_scrape_targets for the controller: a failed write is logged, never raised, so
    monitoring can never fail a deploy or a rollback."""
    try:
        write_scrape_targets(config, slots)
    except (OSError, ValueError) as exc:
        log.error("could not write the scrape targets", error=str(exc))


def _group(target: str, **labels: str | None) -> dict[str, Any]:
    return {"targets": [target], "labels": {k: v for k, v in labels.items() if v is not None}}
