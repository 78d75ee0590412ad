"""Synthetic traffic for an analysis that has too few real requests to judge.

Reads of `/api/v11/info` sent through the router (so its per-slot counters see them), with a
fixed concurrency, a hard cap on the count and a deadline: topping up can never become a load
test of production.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time

import httpx

from v11ops.config import Config
from v11ops.tls import pinned_client_context

MAX_REQUESTS = 5000
CONCURRENCY = 8
DEADLINE_S = 30.0
PATH = "/api/v11/info"


async def top_up_through(config: Config, requests: int) -> int:
    """Send up to `requests` reads through the config's router; return how many were sent."""
    url = f"{config.router.url}{PATH}"
    files = config.router.tls.files(config.config_dir)
    verify: ssl.SSLContext | bool = pinned_client_context(files.cert) if files else True
    budget = min(requests, MAX_REQUESTS)
    deadline = time.monotonic() + DEADLINE_S
    sent = 0

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal sent
        while sent < budget and time.monotonic() < deadline:
            sent += 1
            # A failure is counted by the router as what it is; the analysis judges it.
            with contextlib.suppress(httpx.HTTPError):
                await client.get(url, headers={"User-Agent": "v11ops-synthetic"})

    async with httpx.AsyncClient(timeout=5.0, verify=verify) as client:
        await asyncio.gather(*(worker(client) for _ in range(CONCURRENCY)))
    return sent
