"""The router: the process that owns the data path and sends each request to a slot.

Public API (everything else in this package is internal):

- `RouteTable`, `Target`: the routing decision and its JSON shape.
- `RouterClient`: typed client of a running router's admin API.
- `RouterStats`, `TargetStats`, `DrainResult`: what the admin API reports.
- `RouterConfig`, `RouterServer`, `run_router`: run a router in this process.
- `NginxRouter`: the same operations applied to nginx instead of the builtin router.
- `RouterError`, `RouterUnavailable`, `RouterRejected`, `RouteTableError`,
  `RouterConfigError`, `NginxError`.
"""

from v11ops.router.client import RouterClient
from v11ops.router.errors import (
    NginxError,
    RouterConfigError,
    RouterError,
    RouterRejected,
    RouterUnavailable,
    RouteTableError,
)
from v11ops.router.nginx import NginxRouter
from v11ops.router.routing import DrainResult
from v11ops.router.server import RouterConfig, RouterServer
from v11ops.router.server import run as run_router
from v11ops.router.stats import RouterStats, TargetStats
from v11ops.router.table import RouteTable, Target

__all__ = [
    "DrainResult",
    "NginxError",
    "NginxRouter",
    "RouteTable",
    "RouteTableError",
    "RouterClient",
    "RouterConfig",
    "RouterConfigError",
    "RouterError",
    "RouterRejected",
    "RouterServer",
    "RouterStats",
    "RouterUnavailable",
    "Target",
    "TargetStats",
    "run_router",
]
