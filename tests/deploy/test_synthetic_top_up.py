"""Synthetic top-up reads for a canary analysis: exactly the asked count, capped, and never
failing the analysis when the router does not answer (the router counts what happened)."""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.deploy.inprocess import stack_yaml
from tests.gates.servers import running
from tests.load.fake_node import closed_port
from v11ops.config import Config, load_config
from v11ops.deploy import synthetic


def routed_at(tmp_path: Path, listen: str) -> Config:
    path = tmp_path / "v11ops.yaml"
    path.write_text(re.sub(r"listen: 127\.0\.0\.1:\d+", f"listen: {listen}", stack_yaml(), count=1))
    return load_config(path)


def test_top_up_sends_the_asked_reads_marked_as_synthetic(tmp_path: Path) -> None:
    agents: Counter[str] = Counter()

    async def info(request: Request) -> JSONResponse:
        agents[request.headers.get("user-agent", "")] += 1
        return JSONResponse({"version": "1.1.0"})

    with running(Starlette(routes=[Route(synthetic.PATH, info)])) as url:
        config = routed_at(tmp_path, url.removeprefix("http://"))
        sent = asyncio.run(synthetic.top_up_through(config, 37))
    assert sent == 37
    assert agents == {"v11ops-synthetic": 37}


def test_top_up_is_capped_and_survives_a_router_that_does_not_answer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(synthetic, "MAX_REQUESTS", 12)
    config = routed_at(tmp_path, f"127.0.0.1:{closed_port()}")
    assert asyncio.run(synthetic.top_up_through(config, 1000)) == 12
