"""The `router` provider against a real builtin router in front of real nodes (a 50/50 canary)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.analysis.helpers import analyse, context, template
from tests.router.harness import LoopThread, start_router
from v11ops.analysis import AnalysisContext, SlotRef
from v11ops.router import RouterClient, RouterServer, RouterStats, RouteTable, Target
from v11ops.router.errors import RouterError

ERROR_RATE = {
    "name": "error-rate", "kind": "router", "metric": "error_rate",
    "success_condition": "result <= 0.02", "min_samples": 20,
}  # fmt: skip
P99 = {
    "name": "p99", "kind": "router", "metric": "latency", "quantile": 0.99,
    "success_condition": "result <= 0.5", "min_samples": 20,
}  # fmt: skip


class Canary:
    """A router sending half of the requests to the stable slot, half to the candidate."""

    def __init__(self, loop: LoopThread, server: RouterServer, socket: Path) -> None:
        self.loop, self.server = loop, server
        self.client = RouterClient(socket)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.port}"

    def route(self, stable: SlotRef, candidate: SlotRef) -> None:
        self.client.set_routes(
            RouteTable(
                (
                    Target(stable.name, stable.base_url, 50, stable.version),
                    Target(candidate.name, candidate.base_url, 50, candidate.version),
                )
            )
        )

    async def stats(self) -> RouterStats | None:
        return await asyncio.to_thread(self.client.stats)

    async def top_up(self, n: int) -> int:
        """Synthetic requests through the router: half reach the candidate, so twice `n`."""
        async with httpx.AsyncClient(timeout=5) as client:
            for _ in range(2 * n + 10):
                await client.get(f"{self.url}/api/v11/info")
        return 2 * n + 10

    def ctx(self, stable: SlotRef, candidate: SlotRef, **kwargs: object) -> AnalysisContext:
        return context(candidate, stable, router_stats=self.stats, router_url=self.url, **kwargs)


@pytest.fixture
def canary(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Canary]:
    folder = Path(tmp_path_factory.mktemp("r", numbered=True))
    short = Path("/tmp") / f"v11an-r{folder.name}"  # unix socket paths are short
    short.mkdir()
    loop = LoopThread()
    server = loop.run(start_router(short))
    handle = Canary(loop, server, short / "admin.sock")
    try:
        yield handle
    finally:
        handle.client.close()
        loop.run(server.stop())
        loop.close()
        for leftover in short.iterdir():
            leftover.unlink()
        short.rmdir()


def traffic(url: str, seconds: float, per_s: float = 120) -> Callable[[], Awaitable[int]]:
    """Client traffic through the router for `seconds`, about `per_s` requests a second."""

    async def send() -> int:
        sent = 0
        deadline = time.monotonic() + seconds
        async with httpx.AsyncClient(timeout=5) as client:
            while time.monotonic() < deadline:
                await client.get(f"{url}/api/v11/info")
                sent += 1
                await asyncio.sleep(1 / per_s)
        return sent

    return send


def test_a_good_canary_passes_on_the_routers_counters(
    canary: Canary, nodes: dict[str, SlotRef]
) -> None:
    canary.route(nodes["blue"], nodes["green"])
    t = template(ERROR_RATE, P99)
    # Client traffic, topped up when this loaded machine sends too little of it in time.
    ctx = canary.ctx(nodes["blue"], nodes["green"], top_up=canary.top_up)
    outcome, measured = analyse(t, ctx, during=traffic(canary.url, 0.6))
    assert outcome.phase == "successful", outcome.reason
    assert outcome.reason.startswith("all 2 checks successful")
    assert {m.check for m in measured} == {"error-rate", "p99"}
    for m in measured:
        assert m.verdict == "successful"
        assert m.samples is not None and m.samples >= 20
        assert m.query.startswith("router: ") and "slot green" in m.query


def test_an_erroring_canary_fails_naming_the_check_and_the_value(
    canary: Canary, nodes: dict[str, SlotRef]
) -> None:
    canary.route(nodes["blue"], nodes["red"])
    t = template({**ERROR_RATE, "count": 3})
    ctx = canary.ctx(nodes["blue"], nodes["red"], top_up=canary.top_up)
    outcome, measured = analyse(t, ctx, during=traffic(canary.url, 0.3))
    assert outcome.phase == "failed"
    first = measured[0]
    assert first.verdict == "failed"
    assert first.value > 0.1  # V11_FAULT_ERROR_RATE=0.5, on at least 20 requests
    assert outcome.reason.startswith(f"error-rate failed: result {first.value:.4g} breaks")
    assert "'result <= 0.02'" in outcome.reason
    assert "1 failed > failure_limit 0" in outcome.reason
    evidence = first.to_evidence()
    assert not evidence.passed
    assert evidence.observed["errors_5xx"] > 0
    assert evidence.expected == {"condition": "success: result <= 0.02", "min_samples": 20}


def test_no_traffic_is_inconclusive_and_says_why(canary: Canary, nodes: dict[str, SlotRef]) -> None:
    canary.route(nodes["blue"], nodes["green"])
    outcome, measured = analyse(template(ERROR_RATE), canary.ctx(nodes["blue"], nodes["green"]))
    assert outcome.phase == "inconclusive"
    assert outcome.reason == (
        "error-rate inconclusive: only 0 requests, fewer than min_samples 20: too few to judge "
        "[measurement 1: 1 inconclusive > inconclusive_limit 0]"
    )
    assert [m.verdict for m in measured] == ["inconclusive"]


def test_no_traffic_is_topped_up_with_synthetic_requests(
    canary: Canary, nodes: dict[str, SlotRef]
) -> None:
    canary.route(nodes["blue"], nodes["green"])
    asked: list[int] = []

    async def top_up(n: int) -> int:
        asked.append(n)
        return await canary.top_up(n)

    ctx = canary.ctx(nodes["blue"], nodes["green"], top_up=top_up)
    outcome, measured = analyse(template(ERROR_RATE), ctx)
    assert outcome.phase == "successful", outcome.reason
    assert asked[0] == 20  # nothing else reached the candidate: all 20 were missing
    assert measured[0].details["top_up_sent"] == 50
    assert measured[0].samples is not None and measured[0].samples >= 20


def test_a_router_without_counters_is_an_explained_error(nodes: dict[str, SlotRef]) -> None:
    # With nginx the controller has no per-slot counters: router_stats returns None.
    ctx = context(nodes["green"], nodes["blue"])
    outcome, measured = analyse(template({**ERROR_RATE, "error_limit": 1}), ctx)
    assert outcome.phase == "inconclusive"
    assert [m.verdict for m in measured] == ["error", "error"]
    assert "this router does not count requests per slot (nginx)" in outcome.reason
    assert "2 provider errors > error_limit 1" in outcome.reason


def test_an_abort_request_stops_the_analysis_at_once(
    canary: Canary, nodes: dict[str, SlotRef]
) -> None:
    canary.route(nodes["blue"], nodes["green"])
    requested_at = time.monotonic() + 0.2
    ctx = canary.ctx(
        nodes["blue"], nodes["green"], abort_requested=lambda: time.monotonic() >= requested_at
    )
    outcome, measured = analyse(template({**ERROR_RATE, "interval_s": 30}), ctx)
    assert outcome.phase == "aborted"
    assert outcome.reason.startswith("error-rate aborted: aborted on request")
    assert measured == []


def test_a_router_that_could_not_be_read_at_the_start_counts_from_the_next_snapshot(
    canary: Canary, nodes: dict[str, SlotRef]
) -> None:
    """The router is restarting when the analysis begins: its first measurement is an error
    that says so, and the next ones judge the traffic counted since then."""
    canary.route(nodes["blue"], nodes["green"])
    calls: list[float] = []

    async def restarting() -> RouterStats | None:
        calls.append(time.monotonic())
        if len(calls) == 1:
            raise RouterError("admin socket not there yet")
        return await canary.stats()

    check = {**ERROR_RATE, "count": 1, "error_limit": 1}
    ctx = context(nodes["green"], nodes["blue"], router_stats=restarting,
                  router_url=canary.url, top_up=canary.top_up)  # fmt: skip
    outcome, measured = analyse(template(check), ctx, during=traffic(canary.url, 0.6))
    assert [m.verdict for m in measured] == ["error", "successful"], [m.reason for m in measured]
    assert measured[0].reason == ("no earlier router snapshot to compare with; counting from now")
    assert outcome.phase == "successful"
