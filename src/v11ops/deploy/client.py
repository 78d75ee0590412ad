"""The CLI's client of the controller daemon (HTTP over its unix socket)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:
    from v11ops.config import Config


def controller_socket(config: Config) -> Path:
    """Where the controller daemon of a stack listens (its state directory)."""
    return config.state_path / "controller.sock"


class ControllerUnavailable(RuntimeError):
    """No controller answers on the socket."""


class ControllerRefused(RuntimeError):
    """The controller refused the request; the message says why."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class ControllerClient:
    def __init__(self, socket_path: Path, timeout_s: float = 30.0) -> None:
        self.socket_path = socket_path
        self._http = httpx.Client(
            transport=httpx.HTTPTransport(uds=str(socket_path)),
            base_url="http://controller",
            timeout=timeout_s,
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ControllerClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        try:
            r = self._http.request(method, path, json=body)
        except httpx.TransportError:
            raise ControllerUnavailable(
                f"no controller answers at {self.socket_path}; start the stack with `v11ops up`"
            ) from None
        data = r.json()
        if r.status_code >= 400:
            raise ControllerRefused(str(data.get("error", r.reason_phrase)), r.status_code)
        return data

    def alive(self) -> bool:
        try:
            self._call("GET", "/health")
        except (ControllerUnavailable, ControllerRefused, ValueError):
            return False
        return True

    def status(self) -> dict[str, Any]:
        return dict(self._call("GET", "/status"))

    def deploy(self, version: str, strategy: str | None = None) -> int:
        body = {"version": version, "strategy": strategy}
        return int(self._call("POST", "/deployments", body)["id"])

    def rollback(self, to: str | None = None, restore_db: bool = False) -> int:
        return int(self._call("POST", "/rollback", {"to": to, "restore_db": restore_db})["id"])

    def promote(self) -> None:
        self._call("POST", "/promote")

    def abort(self) -> None:
        self._call("POST", "/abort")

    def history(self, limit: int = 20) -> list[dict[str, Any]]:
        return list(self._call("GET", f"/deployments?limit={limit}"))

    def deployment(self, deployment_id: int) -> dict[str, Any]:
        return dict(self._call("GET", f"/deployments/{deployment_id}"))

    def metrics(self) -> str:
        """The controller's Prometheus text exposition (instance restarts and more)."""
        try:
            return self._http.get("/metrics").text
        except httpx.TransportError:
            raise ControllerUnavailable(f"no controller answers at {self.socket_path}") from None

    def shutdown(self, stop_slots: bool = True) -> None:
        self._call("POST", "/shutdown", {"stop_slots": stop_slots})
