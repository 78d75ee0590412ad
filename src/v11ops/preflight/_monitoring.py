"""Monitoring: Prometheus answers its health endpoint, so a bad deploy would be seen."""

from __future__ import annotations

import httpx

from v11ops.preflight._verdict import Verdict, failing, passing, skipped

PROMETHEUS_URL_ENV = "V11OPS_PROMETHEUS_URL"


def judge_prometheus(base_url: str | None, timeout_s: float = 3.0) -> Verdict:
    """PASS when `{base_url}/-/healthy` answers 200; SKIP when no URL is configured."""
    if not base_url:
        return skipped(f"no monitoring configured ({PROMETHEUS_URL_ENV} is not set)")
    url = base_url.rstrip("/") + "/-/healthy"
    try:
        response = httpx.get(url, timeout=timeout_s)
    except httpx.HTTPError as exc:
        reason = str(exc) or type(exc).__name__
        return failing(f"Prometheus at {url} does not answer: {reason}", url=url)
    if response.status_code != 200:
        return failing(
            f"Prometheus at {url} is not healthy: HTTP {response.status_code}",
            url=url,
            status=response.status_code,
        )
    return passing(f"Prometheus at {base_url} is healthy", url=url, status=200)
