"""How the driver counts odd answers: a 202 without hashes, a redirect, failing reads, and
each transport error. A real HTTP server on loopback gives the answers."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.gates.servers import running
from tests.load.fake_node import closed_port
from v11ops.load import LoadSpec, run_load
from v11ops.load.driver import Driver, prepare
from v11ops.load.http import Response as LoadResponse
from v11ops.load.plan import split


def odd_node(write_status: int, write_body: bytes, read_status: int) -> Starlette:
    async def write(request: Request) -> Response:
        await request.body()
        return Response(write_body, status_code=write_status, media_type="application/json")

    async def read(request: Request) -> Response:
        return Response(b"{}", status_code=read_status, media_type="application/json")

    return Starlette(routes=[
        Route("/api/v11/transactions", write, methods=["POST"]),
        Route("/api/v11/stats", read), Route("/api/v11/info", read),
    ])  # fmt: skip


@pytest.fixture
def node_202_without_hashes() -> Iterator[str]:
    with running(odd_node(202, b'{"count": 1}', 500)) as url:
        yield url


def test_a_202_without_hashes_is_a_bad_response_and_failing_reads_are_counted(
    node_202_without_hashes: str,
) -> None:
    spec = LoadSpec(target=node_202_without_hashes, rate=100, duration_s=0.2, accounts=20,
                    read_ratio=0.5)  # fmt: skip
    report = run_load(spec)
    assert report.accepted == 0
    assert report.errors["bad_response"] == report.requests > 0
    assert report.errors["read_failed"] == report.reads > 0
    assert report.reads_ok == 0
    assert report.failed


def test_a_redirect_is_a_bad_response() -> None:
    with running(odd_node(302, b"", 200)) as url:
        report = run_load(LoadSpec(target=url, rate=50, duration_s=0.1, accounts=10))
    assert report.errors == {"bad_response": report.requests}
    assert report.statuses == {"302": report.requests}


def test_reads_to_a_closed_port_are_connect_errors() -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    report = run_load(LoadSpec(target=url, rate=100, duration_s=0.2, accounts=20, read_ratio=0.5))
    assert report.reads > 0 and report.reads_ok == 0
    assert report.errors == {"connect": report.reads + report.requests}


class _BrokenClient:
    """A client with a defect: every request raises something that is not a transport error."""

    async def post(self, path: str, body: bytes) -> LoadResponse:
        raise RuntimeError("a bug in the client")

    async def get(self, path: str) -> LoadResponse:
        raise RuntimeError("a bug in the client")


def test_an_unexpected_error_is_counted_as_other_and_the_account_retired() -> None:
    spec = LoadSpec(target="http://127.0.0.1:1", rate=100, duration_s=0.2, accounts=40,
                    read_ratio=0.5)  # fmt: skip
    plan = split(spec)[0]
    accounts, tally = prepare(plan)
    driver = Driver(plan, accounts, _BrokenClient(), tally)  # type: ignore[arg-type]
    asyncio.run(driver.run())
    assert tally.requests > 0 and tally.reads > 0
    assert tally.errors == {"other": tally.requests + tally.reads}
    assert tally.retired_accounts == tally.requests, "the node may hold a request of a bug"
