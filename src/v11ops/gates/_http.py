"""The HTTP client the gates share, and a readable form of an HTTP failure."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import httpx


@contextlib.asynccontextmanager
async def client_or(client: httpx.AsyncClient | None) -> AsyncIterator[httpx.AsyncClient]:
    """Use the caller's client, or a short-lived one. Proxy variables are ignored: gates talk
    to instances on known addresses, never through a proxy."""
    if client is not None:
        yield client
        return
    async with httpx.AsyncClient(trust_env=False) as own:
        yield own


def describe_failure(exc: httpx.HTTPError) -> str:
    """`connection refused`, `timed out`, or the exception's name and message."""
    if isinstance(exc, httpx.ConnectError):
        cause: BaseException | None = exc
        while cause is not None:  # asyncio wraps the refusal: look down the chain
            if isinstance(cause, ConnectionRefusedError):
                return "connection refused"
            cause = cause.__cause__ or cause.__context__
        return f"cannot connect: {exc}"
    if isinstance(exc, httpx.TimeoutException):
        return "timed out"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def excerpt(text: str, limit: int = 200) -> str:
    """The start of a response body, on one line."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."
