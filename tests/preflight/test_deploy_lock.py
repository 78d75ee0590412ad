"""The deploy-lock check: the controller (or, when it is down, its state DB) says no deploy runs."""

from __future__ import annotations

import json
import socketserver
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest

from v11ops.config import Config
from v11ops.deploy.client import controller_socket
from v11ops.deploy.state import StateDB
from v11ops.preflight import Status, judge_deploy_lock

StartController = Callable[[dict[str, Any]], None]


@pytest.fixture
def controller(config: Config) -> Iterator[StartController]:
    """A stand-in controller answering GET /status on the config's unix socket."""
    servers: list[socketserver.UnixStreamServer] = []

    def start(status: dict[str, Any]) -> None:
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = json.dumps(status).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def address_string(self) -> str:
                return "unix"

            def log_message(self, *_: object) -> None:
                pass

        path = controller_socket(config)
        path.parent.mkdir(parents=True, exist_ok=True)
        server = socketserver.ThreadingUnixStreamServer(str(path), Handler)
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
        servers.append(server)

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def _state(config: Config) -> StateDB:
    return StateDB(config.state_path / "state.db")


def _status(deploying: bool, holder: str | None = None) -> dict[str, Any]:
    last = {"id": 7, "kind": "deploy", "version": "1.1.0", "status": "running"}
    return {"deploying": deploying, "lock": {"holder": holder}, "last_deployment": last}


def test_a_fresh_state_dir_has_no_deploy_in_progress(config: Config) -> None:
    verdict = judge_deploy_lock(config)
    assert verdict.status == Status.PASS and "no deployment has run here yet" in verdict.reason
    assert not config.state_path.exists()  # checking created nothing


def test_a_held_lock_in_the_state_db_fails(config: Config) -> None:
    state = _state(config)
    token = state.acquire_lock("controller pid=1 host=elsewhere", ttl_s=60)
    verdict = judge_deploy_lock(config)
    assert verdict.status == Status.FAIL and "held by controller pid=1" in verdict.reason
    state.release_lock("controller pid=1 host=elsewhere", token)
    assert judge_deploy_lock(config).status == Status.PASS
    state.close()


def test_an_unfinished_deployment_fails_until_the_controller_recovers_it(config: Config) -> None:
    state = _state(config)
    token = state.acquire_lock("me", ttl_s=60)
    dep = state.create_deployment("1.1.0", "1.0.0", "blue-green", "deploy", "green", "blue", token)
    state.release_lock("me", token)  # as if the controller died: lock gone, journal open
    verdict = judge_deploy_lock(config)
    assert verdict.status == Status.FAIL
    assert f"deployment {dep} (deploy 1.1.0) did not finish" in verdict.reason
    state.finish_deployment(dep, "succeeded", None)
    assert judge_deploy_lock(config).status == Status.PASS
    state.close()


def test_a_deploying_controller_fails(config: Config, controller: StartController) -> None:
    controller(_status(deploying=True, holder="controller pid=5"))
    verdict = judge_deploy_lock(config)
    assert verdict.status == Status.FAIL and verdict.details["source"] == "controller"
    assert "deployment 7 (deploy 1.1.0) is running" in verdict.reason


def test_an_idle_controller_passes(config: Config, controller: StartController) -> None:
    controller(_status(deploying=False))
    verdict = judge_deploy_lock(config)
    assert verdict.status == Status.PASS and verdict.details["source"] == "controller"


def test_a_stale_controller_socket_falls_back_to_the_state_db(config: Config) -> None:
    state = _state(config)
    state.acquire_lock("controller pid=9 host=elsewhere", ttl_s=60)
    controller_socket(config).touch()  # a socket file nobody listens on
    verdict = judge_deploy_lock(config, timeout_s=1)
    assert verdict.status == Status.FAIL and verdict.details["source"] == "state_db"
    state.close()


def test_an_unreadable_state_db_fails_instead_of_crashing(config: Config) -> None:
    config.state_path.mkdir()
    (config.state_path / "state.db").write_text("not a database")
    verdict = judge_deploy_lock(config)
    assert verdict.status == Status.FAIL and "cannot read" in verdict.reason
