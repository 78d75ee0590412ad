"""The router's figures: latency quantiles, the metrics listener, its admin client's errors."""

from __future__ import annotations

import math
from pathlib import Path

import httpx
import pytest

from tests.router.conftest import StartRouter, StartUpstream
from tests.router.harness import closed_port
from v11ops.router import RouterClient, RouterUnavailable, RouteTable, Target
from v11ops.router.stats import LATENCY_BUCKETS, histogram_quantile


def _buckets(**counts: int) -> tuple[int, ...]:
    """Counts by bucket index (`b0=3`), the last index being +Inf."""
    values = [0] * (len(LATENCY_BUCKETS) + 1)
    for name, count in counts.items():
        values[int(name[1:])] = count
    return tuple(values)


def test_quantiles_interpolate_inside_a_bucket_and_stop_at_the_last_bound() -> None:
    assert histogram_quantile(0.5, _buckets()) is None, "no samples, no quantile"
    first = LATENCY_BUCKETS[0]
    assert histogram_quantile(0.5, _buckets(b0=4)) == pytest.approx(first / 2)
    assert histogram_quantile(1.0, _buckets(b0=2, b1=2)) == pytest.approx(LATENCY_BUCKETS[1])
    overflow = _buckets(**{f"b{len(LATENCY_BUCKETS)}": 5})
    assert histogram_quantile(0.99, overflow) == LATENCY_BUCKETS[-1]
    assert not math.isinf(histogram_quantile(0.99, overflow) or 0)


def test_the_metrics_listener_counts_errors_and_unrouted_requests(
    upstream: StartUpstream, router: StartRouter
) -> None:
    blue = upstream("blue")
    dead = Target("dead", f"http://127.0.0.1:{closed_port()}", 50)
    r = router(dead, blue.target(weight=50), metrics=True)
    assert httpx.get(r.url).status_code == 200  # `dead` fails to connect, blue answers
    r.client().set_routes(RouteTable())
    assert httpx.get(r.url).status_code == 503  # nothing to route to
    base = f"http://127.0.0.1:{r.server.metrics_port}"
    text = httpx.get(f"{base}/metrics").text
    target = dead.url.removeprefix("http://")  # metrics label targets by address
    assert f'v11ops_router_upstream_errors_total{{kind="connect",target="{target}"}} 1.0' in text
    assert 'v11ops_router_requests_total{code="503",slot="",target="none",version=""} 1.0' in text
    assert httpx.post(f"{base}/metrics").status_code == 405


def test_the_admin_client_needs_exactly_one_address_and_names_an_unreachable_one(
    short_dir: Path,
) -> None:
    with pytest.raises(ValueError, match="exactly one of socket_path and base_url"):
        RouterClient()
    with pytest.raises(ValueError, match="exactly one"):
        RouterClient(short_dir / "a.sock", base_url="http://127.0.0.1:1")
    client = RouterClient(base_url=f"http://127.0.0.1:{closed_port()}", token="t")
    try:
        with pytest.raises(RouterUnavailable, match="is `v11ops router run` running"):
            client.get_routes()
    finally:
        client.close()
