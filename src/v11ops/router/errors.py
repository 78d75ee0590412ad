"""The router's errors: a small hierarchy whose messages say what to do."""

from __future__ import annotations


class RouterError(Exception):
    """Something about the router failed; the message names what and what to do."""


class RouterConfigError(RouterError):
    """The router's own settings are unusable (a usage error: nothing was started)."""


class RouterUnavailable(RouterError):
    """The router's admin API could not be reached (not running, wrong socket, timed out)."""


class RouterRejected(RouterError):
    """The router refused a request (bad input, unknown target, revision conflict)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


class RouteTableError(RouterRejected, ValueError):
    """A route table is invalid; nothing was changed."""


class NginxError(RouterError):
    """nginx is missing, rejected the rendered config, or did not reload."""
