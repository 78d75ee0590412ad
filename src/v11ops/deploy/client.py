"""The CLI's client of the controller daemon (HTTP over its unix socket)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from v11ops.security.credentials import Credential, TokenFileError, resolve_token

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
    """A client of the control API; without `token`, it finds one (see v11ops.security.credentials).

    The token is looked up again for each call, so a client made before the controller wrote
    admin.token (`v11ops up` on a new state folder) still finds it.
    """

    def __init__(
        self, socket_path: Path, timeout_s: float = 30.0, token: str | None = None
    ) -> None:
        self.socket_path = socket_path
        self._token = token
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

    def _credential(self) -> Credential:
        if self._token is not None:
            return Credential(self._token, "the caller")
        try:
            return resolve_token(self.socket_path.parent)
        except TokenFileError as exc:
            raise ControllerRefused(str(exc), 401) from None

    def _request(self, method: str, path: str, body: Any = None) -> httpx.Response:
        credential = self._credential()
        headers = {"Authorization": f"Bearer {credential.token}"} if credential.token else {}
        try:
            r = self._http.request(method, path, json=body, headers=headers)
        except httpx.TransportError:
            raise ControllerUnavailable(
                f"no controller answers at {self.socket_path}; start the stack with `v11ops up`"
            ) from None
        if r.status_code >= 400:
            raise _refusal(r, credential)
        return r

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        return self._request(method, path, body).json()

    def alive(self) -> bool:
        """Whether a controller answers on the socket (a refusal is an answer too)."""
        try:
            self._call("GET", "/health")
        except ControllerRefused:
            return True
        except (ControllerUnavailable, ValueError):
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
        return self._request("GET", "/metrics").text

    def tokens(self) -> list[dict[str, Any]]:
        return list(self._call("GET", "/tokens"))

    def create_token(
        self, role: str, name: str | None, expires_in_s: float | None
    ) -> dict[str, Any]:
        """The new token's record, with the token itself under "token" (shown only this once)."""
        body = {"role": role, "name": name, "expires_in_s": expires_in_s}
        return dict(self._call("POST", "/tokens", body))

    def revoke_token(self, token_id: str) -> dict[str, Any]:
        return dict(self._call("DELETE", f"/tokens/{token_id}"))

    def shutdown(self, stop_slots: bool = True) -> None:
        self._call("POST", "/shutdown", {"stop_slots": stop_slots})


def _refusal(r: httpx.Response, credential: Credential) -> ControllerRefused:
    """The controller's reason; for a 401 also where the token came from (never the token)."""
    try:
        data = r.json()
    except ValueError:
        data = {}
    message = str(data.get("error", r.reason_phrase)) if isinstance(data, dict) else r.reason_phrase
    if r.status_code == 401:
        found = credential.token is not None
        message += f" (token from {credential.source})" if found else f"; {credential.source}"
    return ControllerRefused(message, r.status_code)
