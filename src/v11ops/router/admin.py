"""The admin API: read and switch the route table, drain and undrain targets, read stats.

Served on a unix socket (mode 0600: file permissions are the authentication) and optionally on
loopback TCP with a bearer token. Bad input gets a 4xx with a message naming what was wrong,
and changes nothing.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from typing import Any

from v11ops.router.control_http import ControlRequest, ControlResponse
from v11ops.router.errors import RouterRejected
from v11ops.router.routing import Routing
from v11ops.router.table import RouteTable

MAX_DRAIN_TIMEOUT_S = 3600.0
DEFAULT_DRAIN_TIMEOUT_S = 30.0

Route = Callable[[ControlRequest], Awaitable[ControlResponse]]


class AdminApi:
    """Request handlers of the admin API, bound to one router's routing state."""

    def __init__(self, routing: Routing, closing: Callable[[], bool]) -> None:
        self.routing = routing
        self.closing = closing
        self._routes: dict[tuple[str, str], Route] = {
            ("GET", "/routes"): self.get_routes,
            ("PUT", "/routes"): self.put_routes,
            ("POST", "/drain"): self.drain,
            ("POST", "/undrain"): self.undrain,
            ("GET", "/stats"): self.stats,
            ("GET", "/health"): self.health,
        }

    async def __call__(self, request: ControlRequest) -> ControlResponse:
        """Dispatch by method and path; errors become JSON 4xx answers."""
        route = self._routes.get((request.method, request.path))
        if route is None:
            if any(path == request.path for _, path in self._routes):
                return ControlResponse.error(405, f"{request.method} is not allowed here")
            paths = sorted({f"{m} {p}" for m, p in self._routes})
            return ControlResponse.error(404, f"no such endpoint; try one of: {', '.join(paths)}")
        try:
            return await route(request)
        except RouterRejected as exc:
            return ControlResponse.error(exc.status, str(exc))
        except ValueError as exc:
            return ControlResponse.error(400, str(exc))

    async def get_routes(self, request: ControlRequest) -> ControlResponse:
        """`GET /routes`: the table in force."""
        return ControlResponse.json(200, self.routing.table.to_json())

    async def put_routes(self, request: ControlRequest) -> ControlResponse:
        """`PUT /routes`: replace the whole table (validated, persisted, then switched)."""
        table = RouteTable.from_json(request.json())
        try:
            new = await self.routing.switch(table)
        except OSError as exc:
            return ControlResponse.error(
                500, f"could not write the state file ({exc}); the route table is unchanged"
            )
        return ControlResponse.json(200, new.to_json())

    async def drain(self, request: ControlRequest) -> ControlResponse:
        """`POST /drain {target, timeout_s}`: answers once in-flight is 0 or on timeout."""
        body = _object(request)
        target = _target(body)
        timeout = body.get("timeout_s", DEFAULT_DRAIN_TIMEOUT_S)
        if not isinstance(timeout, int | float) or isinstance(timeout, bool):
            raise ValueError("'timeout_s' must be a number of seconds")
        if not 0 <= timeout <= MAX_DRAIN_TIMEOUT_S:
            raise ValueError(f"'timeout_s' must be between 0 and {MAX_DRAIN_TIMEOUT_S:g}")
        result = await self.routing.drain(target, float(timeout))
        return ControlResponse.json(200, result.to_json())

    async def undrain(self, request: ControlRequest) -> ControlResponse:
        """`POST /undrain {target}`: let the target receive new requests again."""
        urls = self.routing.undrain(_target(_object(request)))
        return ControlResponse.json(200, {"undrained": urls})

    async def stats(self, request: ControlRequest) -> ControlResponse:
        """`GET /stats`: cumulative per-target counters (diff two snapshots for a window)."""
        return ControlResponse.json(200, self.routing.snapshot().to_json())

    async def health(self, request: ControlRequest) -> ControlResponse:
        """`GET /health`: the router is up; includes the table revision and load."""
        closing = self.closing()
        return ControlResponse.json(
            503 if closing else 200,
            {
                "status": "closing" if closing else "ok",
                "revision": self.routing.table.revision,
                "active_targets": len(self.routing.table.active),
                "in_flight": self.routing.in_flight,
            },
        )


def _object(request: ControlRequest) -> dict[str, Any]:
    body = request.json()
    if not isinstance(body, dict):
        raise ValueError("request body must be a JSON object")
    return body


def _target(body: dict[str, Any]) -> str:
    target = body.get("target")
    if not isinstance(target, str) or not target:
        raise ValueError("'target' must name a slot (e.g. 'blue') or a target url")
    return target


def bearer_auth(token: str, handler: Route) -> Route:
    """Wrap `handler` so that only requests with `Authorization: Bearer <token>` pass."""
    expected = f"Bearer {token}".encode()

    async def guarded(request: ControlRequest) -> ControlResponse:
        given = request.headers.get("authorization", "").encode()
        if not hmac.compare_digest(given, expected):
            return ControlResponse.error(401, "missing or wrong bearer token")
        return await handler(request)

    return guarded
