"""`router:` the process that owns the data path."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from v11ops.config._base import HostPort, Model


class Nginx(Model):
    """Options of the nginx router: run our own nginx, or include a file into an existing one."""

    mode: Literal["own", "include"] = "own"
    include_path: str | None = Field(
        default=None, description="where the upstream file is written when mode is include"
    )
    binary: str = "nginx"
    conf: str = Field(
        default="/etc/nginx/nginx.conf", description="include mode: the nginx config to test"
    )
    pid_file: str = Field(default="/run/nginx.pid", description="include mode: nginx's pid file")

    @model_validator(mode="after")
    def _include_needs_a_path(self) -> Nginx:
        if self.mode == "include" and not self.include_path:
            raise ValueError("mode include needs include_path (the file your nginx includes)")
        return self


class Router(Model):
    """The router: `builtin` (embedded asyncio proxy) or `nginx`."""

    kind: Literal["builtin", "nginx"] = "builtin"
    listen: HostPort = "127.0.0.1:8080"
    admin_socket: str = Field(
        default="{state_dir}/router.sock",
        description="unix socket of the admin API; {state_dir} allowed",
    )
    metrics_listen: HostPort | None = Field(
        default="127.0.0.1:9180", description="host:port of the router's own /metrics; null: off"
    )
    nginx: Nginx = Nginx()
