"""The controller daemon: the controller plus its HTTP API on a unix socket (mode 0600).

It runs in the background (started by `v11ops up`) so that timers such as the post-switch window
and the scale-down delay keep running after a CLI command returns. The CLI is its client.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import signal
import socket
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import structlog
import uvicorn
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from uvicorn.protocols.http.h11_impl import H11Protocol

from v11ops.config import Config
from v11ops.deploy.alerts import start_listener
from v11ops.deploy.client import controller_socket
from v11ops.deploy.controller import Controller, DeployRefused
from v11ops.deploy.reconcile import reconcile
from v11ops.deploy.routers import router_backend
from v11ops.deploy.state import StateDB
from v11ops.deploy.traffic import Traffic
from v11ops.monitoring.stack import publish_scrape_targets
from v11ops.runtime import ProcessRuntime
from v11ops.security.access import AccessControl
from v11ops.security.api import Access, json_object, token_routes
from v11ops.security.credentials import ADMIN_TOKEN_FILE

log = structlog.get_logger("v11ops.daemon")


def _error(exc: DeployRefused) -> JSONResponse:
    return JSONResponse({"error": str(exc)}, status_code=exc.status)


def build_app(ctl: Controller, stop: asyncio.Event, access: Access) -> Starlette:
    """The control API; every route is guarded by `access` (v11ops.security.access)."""

    async def metrics(_: Request) -> Response:
        # The controller's own counters (instance restarts, ...) from the default registry.
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    async def health(_: Request) -> JSONResponse:
        return JSONResponse({"status": "ok", "pid": os.getpid()})

    async def status(_: Request) -> JSONResponse:
        return JSONResponse(await ctl.status())

    async def deploy(request: Request) -> JSONResponse:
        body = await json_object(request)
        version, strategy = body.get("version"), body.get("strategy")
        if not isinstance(version, str) or not version:
            return JSONResponse({"error": "body needs a 'version' string"}, status_code=400)
        if strategy is not None and not isinstance(strategy, str):
            return JSONResponse({"error": "'strategy' must be a string"}, status_code=400)
        await ctl.settle()
        try:
            return JSONResponse({"id": ctl.start_deploy(version, strategy)}, status_code=202)
        except DeployRefused as exc:
            return _error(exc)

    async def rollback(request: Request) -> JSONResponse:
        body = await json_object(request)
        to, restore_db = body.get("to"), body.get("restore_db") is True
        await ctl.settle()
        try:
            return JSONResponse({"id": ctl.start_rollback(to, restore_db)}, status_code=202)
        except DeployRefused as exc:
            return _error(exc)

    async def promote(_: Request) -> JSONResponse:
        try:
            ctl.promote()
        except DeployRefused as exc:
            return _error(exc)
        return JSONResponse({"ok": True})

    async def abort(_: Request) -> JSONResponse:
        try:
            ctl.abort()
        except DeployRefused as exc:
            return _error(exc)
        return JSONResponse({"ok": True})

    async def history(request: Request) -> JSONResponse:
        text = request.query_params.get("limit", "20")
        if not text.isdigit() or not 1 <= int(text) <= 10_000:
            return JSONResponse({"error": "'limit' must be a whole number 1-10000"}, 400)
        limit = int(text)
        return JSONResponse([d.to_json() for d in ctl.state.deployments(limit)])

    async def deployment(request: Request) -> JSONResponse:
        dep = ctl.state.deployment(int(request.path_params["id"]))
        if dep is None:
            return JSONResponse({"error": "no such deployment"}, status_code=404)
        return JSONResponse(ctl.explain(dep))

    async def shutdown(request: Request) -> JSONResponse:
        stop_slots = bool((await json_object(request)).get("stop_slots", True))
        ctl.stop_slots_on_exit = stop_slots
        stop.set()
        return JSONResponse({"ok": True})

    routes = [
        Route("/health", health),
        Route("/metrics", metrics),
        Route("/status", status),
        Route("/deployments", deploy, methods=["POST"]),
        Route("/deployments", history),
        Route("/deployments/{id:int}", deployment),
        Route("/rollback", rollback, methods=["POST"]),
        Route("/promote", promote, methods=["POST"]),
        Route("/abort", abort, methods=["POST"]),
        Route("/shutdown", shutdown, methods=["POST"]),
        *token_routes(access.tokens),
    ]
    guard = Middleware(AccessControl, tokens=access.tokens, audit=access.audit, routes=routes)
    return Starlette(routes=routes, middleware=[guard])


@contextlib.contextmanager
def _single_instance(state_dir: Path) -> Any:
    """One controller per state directory (an flock on controller.pid)."""
    state_dir.mkdir(parents=True, exist_ok=True)
    pidfile = (state_dir / "controller.pid").open("a+")
    try:
        fcntl.flock(pidfile, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise SystemExit(f"a controller already runs for {state_dir}") from None
    pidfile.seek(0)
    pidfile.truncate()
    pidfile.write(str(os.getpid()))
    pidfile.flush()
    try:
        yield
    finally:
        pidfile.close()


async def serve(config: Config) -> None:
    state = StateDB(config.state_path / "state.db")
    traffic = Traffic(router_backend(config))
    ctl = Controller(config, state, ProcessRuntime(config.state_path), traffic)
    ctl.stop_slots_on_exit = False
    # Monitoring: scrape targets follow every slot change; alerts may roll a release back.
    state.on_slots_changed = lambda: publish_scrape_targets(ctl.config, state.slots().values())
    stop_listener = await start_listener(ctl)
    await reconcile(ctl)
    publish_scrape_targets(ctl.config, state.slots().values())
    stop = asyncio.Event()
    sock = controller_socket(config)
    with contextlib.suppress(FileNotFoundError):
        sock.unlink()
    access = Access(config.state_path)
    if (token_id := access.bootstrap()) is not None:
        log.info("bootstrap admin token created", token_id=token_id, file=ADMIN_TOKEN_FILE)
    app = build_app(ctl, stop, access)
    server = _QuietServer(
        uvicorn.Config(
            app,
            uds=str(sock),
            http=_PeerCredProtocol,
            log_config=None,
            access_log=False,
            lifespan="off",
        )
    )
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    serving = asyncio.create_task(server.serve())
    supervising = asyncio.create_task(ctl.supervisor.run())
    # uvicorn has no "started" event to await, hence the poll.
    while not server.started and not serving.done():  # noqa: ASYNC110
        await asyncio.sleep(0.01)
    # uvicorn makes a unix socket 0666; the control API is for the owner only.
    with contextlib.suppress(FileNotFoundError):
        sock.chmod(0o600)
    await stop.wait()
    await ctl.wait_idle()
    supervising.cancel()
    if ctl.stop_slots_on_exit:
        for name in list(state.slots()):
            await ctl.stop_slot(name, drain=True)
    server.should_exit = True
    await serving
    if stop_listener is not None:
        await stop_listener()
    await ctl.notifier.aclose()  # flush queued notifications, within notifications.flush_timeout_s
    traffic.close()
    state.close()
    access.close()
    with contextlib.suppress(FileNotFoundError):
        sock.unlink()


class _PeerCredProtocol(H11Protocol):
    """uvicorn's HTTP protocol, with the peer's uid and pid (SO_PEERCRED) as the client address.

    The audit log records them as `client`; on a unix socket uvicorn has no address otherwise.
    """

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        sock = transport.get_extra_info("socket")
        with contextlib.suppress(OSError, AttributeError):
            raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
            pid, uid, _gid = struct.unpack("3i", raw)
            self.client = (f"uid={uid}", pid)


class _QuietServer(uvicorn.Server):
    """uvicorn without its own signal handling: SIGTERM stops the controller, not the slots."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def run_daemon(config: Config) -> None:
    os.umask(0o077)  # every file the daemon writes is owner-only
    with _single_instance(config.state_path):
        # The sockets live here: a private directory closes the window before chmod.
        config.state_path.chmod(0o700)
        asyncio.run(serve(config))
