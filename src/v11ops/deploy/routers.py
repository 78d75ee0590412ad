"""Which router a stack uses (`router.kind` in the config), as one backend for the controller."""

from __future__ import annotations

import shutil
from pathlib import Path

from v11ops.config import Config, split_host_port
from v11ops.deploy.traffic import RouterBackend
from v11ops.router.client import RouterClient
from v11ops.router.nginx import NginxRouter


def router_backend(config: Config) -> RouterBackend:
    """The builtin router's admin client, or an nginx handle, as the config says."""
    if config.router.kind == "nginx":
        return nginx_router(config)
    return RouterClient(config.admin_socket_path)


def nginx_router(config: Config) -> NginxRouter:
    opts = config.router.nginx
    # /usr/sbin is often not on an unprivileged PATH; that is where Debian puts nginx.
    found = shutil.which(opts.binary) or shutil.which(opts.binary, path="/usr/sbin:/usr/local/sbin")
    binary = Path(found or opts.binary)
    state = config.state_path / "nginx"
    if opts.mode == "own":
        return NginxRouter.own(state, split_host_port(config.router.listen), nginx_bin=binary)
    assert opts.include_path is not None  # the config model requires it in include mode
    return NginxRouter.include(
        state,
        config.config_dir / opts.include_path,
        Path(opts.conf),
        Path(opts.pid_file),
        nginx_bin=binary,
    )
