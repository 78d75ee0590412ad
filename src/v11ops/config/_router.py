"""`router:` the process that owns the data path."""

from __future__ import annotations

from ipaddress import ip_network
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, model_validator

from v11ops.config._base import HostPort, Model
from v11ops.config._tls import RouterTls


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


def normal_network(value: str) -> str:
    """An address or CIDR in its canonical form (`10.0.0.1/8` -> `10.0.0.0/8`); ValueError if
    it is neither. The config and `v11ops router run --trust-forwarded-from` both use it."""
    try:
        return str(ip_network(value, strict=False))
    except ValueError:
        raise ValueError(f"{value!r} is not an address or CIDR") from None


class RouterLimits(Model):
    """The builtin router's guards against slow and oversized clients (defaults: ProxySettings)."""

    header_timeout_s: float = Field(
        default=10.0, gt=0, description="whole request head within this, however it trickles in"
    )
    max_header_bytes: int = Field(default=32 * 1024, ge=1024, description="more: 431")
    max_body_bytes: int = Field(default=16 * 1024 * 1024, ge=0, description="more: 413")
    trust_forwarded_from: list[Annotated[str, AfterValidator(normal_network)]] = Field(
        default_factory=lambda: ["127.0.0.0/8", "::1/128"],
        description="peers (address or CIDR) whose X-Forwarded-* headers are kept (a proxy in"
        " front); [] when the router is the edge",
    )


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
    tls: RouterTls = Field(
        default_factory=RouterTls, description="builtin router only: serve HTTPS"
    )
    limits: RouterLimits = Field(default_factory=RouterLimits, description="builtin router only")

    @property
    def url(self) -> str:
        """Where clients reach the router: `https://listen` with TLS, else `http://listen`."""
        return f"{'https' if self.tls.enabled else 'http'}://{self.listen}"

    @model_validator(mode="after")
    def _tls_is_for_the_builtin_router(self) -> Router:
        if self.kind == "nginx" and self.tls.enabled:
            raise ValueError("router.tls is for the builtin router; nginx's site configures TLS")
        return self
