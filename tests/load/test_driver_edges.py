"""How the driver counts odd answers: a 202 without hashes, a redirect, failing reads, and
each transport error. A real HTTP server on loopback gives the answers."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.gates.servers import running
from tests.load.fake_node import closed_port
from v11ops.load import LoadSpec, run_load


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
