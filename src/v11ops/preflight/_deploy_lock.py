"""No deploy in progress: ask the controller; when it is not running, read its state DB."""

from __future__ import annotations

import sqlite3
import time
from typing import Any

import httpx

from v11ops.config import Config
from v11ops.deploy.client import (
    ControllerClient,
    ControllerRefused,
    ControllerUnavailable,
    controller_socket,
)
from v11ops.deploy.state import StateDB
from v11ops.preflight._verdict import Verdict, failing, passing

STATE_DB_NAME = "state.db"


def judge_deploy_lock(config: Config, timeout_s: float = 3.0) -> Verdict:
    """PASS when no deployment runs, holds the deploy lock, or waits for crash recovery."""
    status = _controller_status(config, timeout_s)
    if status is not None:
        return _judge_controller(status)
    return _judge_state_db(config)


def _controller_status(config: Config, timeout_s: float) -> dict[str, Any] | None:
    socket = controller_socket(config)
    if not socket.exists():
        return None
    try:
        with ControllerClient(socket, timeout_s=timeout_s) as client:
            return client.status()
    except (ControllerUnavailable, ControllerRefused, httpx.HTTPError, ValueError):
        # A stale socket of a dead controller: its state DB still tells the truth.
        return None


def _judge_controller(status: dict[str, Any]) -> Verdict:
    last = status.get("last_deployment") or {}
    holder = (status.get("lock") or {}).get("holder")
    if status.get("deploying"):
        return failing(
            f"deployment {last.get('id')} ({last.get('kind')} {last.get('version')}) is "
            f"{last.get('status')}; wait for it or `v11ops abort`",
            source="controller",
            deployment=last.get("id"),
        )
    if holder is not None:
        return failing(f"the deploy lock is held by {holder}", source="controller", holder=holder)
    return passing("the controller is idle", source="controller")


def _judge_state_db(config: Config) -> Verdict:
    path = config.state_path / STATE_DB_NAME
    if not path.exists():
        return passing(f"no deployment has run here yet (no {path})", source="none")
    try:
        state = StateDB(path)
        try:
            lock, unfinished = state.lock_info(), state.unfinished()
        finally:
            state.close()
    except sqlite3.Error as exc:
        # E.g. run as a user who may not open the controller's DB (it is owner-only).
        return failing(f"cannot read {path}: {exc}; run as the controller's user", source="none")
    if lock["holder"] is not None:
        expires_in = max(lock["expires"] - time.time(), 0)
        return failing(
            f"the deploy lock is held by {lock['holder']} (expires in {expires_in:.0f}s)",
            source="state_db",
            holder=lock["holder"],
        )
    if unfinished:
        dep = unfinished[0]
        return failing(
            f"deployment {dep.id} ({dep.kind} {dep.version}) did not finish; start the "
            "controller (`v11ops up`) so that it recovers it",
            source="state_db",
            deployment=dep.id,
        )
    return passing("no deployment in progress (controller not running)", source="state_db")
