"""`RouterClient`: the typed client of the router's admin API, used by the deploy controller."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from v11ops.router.errors import RouterError, RouterRejected, RouterUnavailable
from v11ops.router.routing import DrainResult
from v11ops.router.stats import RouterStats
from v11ops.router.table import RouteTable

DEFAULT_TIMEOUT_S = 10.0


class RouterClient:
    """Talks to one router over its unix admin socket (or loopback TCP with a bearer token).

    >>> with RouterClient("/run/v11ops/router.sock") as router:
    ...     router.set_routes(RouteTable((Target("green", "http://127.0.0.1:9004"),)))
    ...     router.drain("blue", timeout_s=30)
    """

    def __init__(
        self,
        socket_path: str | Path | None = None,
        *,
        base_url: str | None = None,
        token: str | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
    ) -> None:
        if (socket_path is None) == (base_url is None):
            raise ValueError("give exactly one of socket_path and base_url")
        headers = {"authorization": f"Bearer {token}"} if token else {}
        if socket_path is not None:
            self.where = f"admin socket {socket_path}"
            transport = httpx.HTTPTransport(uds=str(socket_path))
            self._http = httpx.Client(
                transport=transport, base_url="http://router", timeout=timeout_s, headers=headers
            )
        else:
            self.where = f"admin address {base_url}"
            self._http = httpx.Client(base_url=str(base_url), timeout=timeout_s, headers=headers)
        self.timeout_s = timeout_s

    def __enter__(self) -> RouterClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the underlying connections."""
        self._http.close()

    def get_routes(self) -> RouteTable:
        """The route table in force (with its revision)."""
        return RouteTable.from_json(self._call("GET", "/routes"))

    def set_routes(
        self, table: RouteTable | Mapping[str, Any], *, expect_revision: int | None = None
    ) -> RouteTable:
        """Replace the whole table atomically; returns it with its new revision.

        With `expect_revision`, the switch happens only if the router is still at that
        revision (otherwise `RouterRejected` with status 409).
        """
        body = dict(table.to_json() if isinstance(table, RouteTable) else table)
        body.pop("revision", None)
        if expect_revision is not None:
            body["expect_revision"] = expect_revision
        return RouteTable.from_json(self._call("PUT", "/routes", body))

    def drain(self, target: str, timeout_s: float = 30.0) -> DrainResult:
        """Stop new requests to `target` (slot or url); return once in-flight is 0 or timeout."""
        body = {"target": target, "timeout_s": timeout_s}
        return DrainResult.from_json(
            self._call("POST", "/drain", body, timeout_s=timeout_s + self.timeout_s)
        )

    def undrain(self, target: str) -> list[str]:
        """Let `target` receive new requests again; returns the urls affected."""
        return list(self._call("POST", "/undrain", {"target": target})["undrained"])

    def stats(self) -> RouterStats:
        """Cumulative per-target counters; diff two snapshots with `RouterStats.since`."""
        return RouterStats.from_json(self._call("GET", "/stats"))

    def health(self) -> dict[str, Any]:
        """`{"status": "ok", "revision": n, "active_targets": n, "in_flight": n}`."""
        return dict(self._call("GET", "/health", accept_503=True))

    def _call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        timeout_s: float | None = None,
        accept_503: bool = False,
    ) -> Any:
        timeout = timeout_s if timeout_s is not None else self.timeout_s
        try:
            response = self._http.request(method, path, json=body, timeout=timeout)
        except httpx.TimeoutException:
            raise RouterUnavailable(
                f"router did not answer {method} {path} within {timeout:g}s ({self.where})"
            ) from None
        except httpx.TransportError as exc:
            raise RouterUnavailable(
                f"cannot reach the router at {self.where} ({exc}); is `v11ops router run` running?"
            ) from None
        try:
            data = response.json()
        except ValueError:
            raise RouterError(
                f"router answered {method} {path} with non-JSON (HTTP {response.status_code})"
            ) from None
        if response.status_code < 400 or (accept_503 and response.status_code == 503):
            return data
        message = data.get("error") if isinstance(data, dict) else None
        raise RouterRejected(str(message or response.reason_phrase), status=response.status_code)
