"""Delivery edges: a webhook that is busy for a moment gets the notice on a retry, a webhook
whose secret cannot be read fails without raising, and a notifier that is closed, or asked
from outside the controller's loop, or given an internal event, sends nothing."""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from structlog.testing import capture_logs

from tests.gates.servers import running
from tests.notify.test_delivery import config, count, fast, notice
from v11ops.config import Config, Webhook
from v11ops.notify import About, Delivery, Notifier, deliver

pytestmark = pytest.mark.timeout(60)


def _busy_then_ok(statuses: list[int]) -> tuple[Starlette, list[int]]:
    """Answers `statuses` in turn, then 200; records what it answered."""
    answered: list[int] = []
    replies = itertools.chain(statuses, itertools.repeat(200))

    async def hook(request: Request) -> JSONResponse:
        await request.body()
        answered.append(next(replies))
        return JSONResponse({}, status_code=answered[-1])

    return Starlette(routes=[Route("/hook", hook, methods=["POST"])]), answered


def _deliver(hook: Webhook, config_dir: Path = Path()) -> Delivery:
    async def go() -> Delivery:
        async with httpx.AsyncClient() as client:
            return await deliver(client, hook, notice(), config_dir=config_dir)

    return asyncio.run(go())


@pytest.mark.parametrize("busy", [429, 503])
def test_a_busy_webhook_is_retried_until_it_takes_the_notice(busy: int) -> None:
    app, answered = _busy_then_ok([busy, busy])

    with running(app) as url:
        result = _deliver(fast(f"{url}/hook", retries=3))
    assert (result.delivered, result.attempts, result.error) == (True, 3, "")
    assert answered == [busy, busy, 200]


def test_a_webhook_that_stays_busy_fails_with_its_last_status() -> None:
    app, answered = _busy_then_ok([503] * 10)

    with running(app) as url:
        result = _deliver(fast(f"{url}/hook", retries=1))
    assert (result.delivered, result.attempts, result.error) == (False, 2, "HTTP 503")
    assert answered == [503, 503]


def test_a_webhook_url_that_cannot_be_resolved_is_a_failed_delivery(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("V11OPS_TEST_NO_SUCH_HOOK", raising=False)
    result = _deliver(fast("env:V11OPS_TEST_NO_SUCH_HOOK"), tmp_path)
    assert (result.delivered, result.attempts) == (False, 0)
    assert "V11OPS_TEST_NO_SUCH_HOOK" in result.error


def test_internal_events_are_not_sent_and_a_closed_notifier_drops_the_rest(
    tmp_path: Path, closed_port: int
) -> None:
    cfg = config(tmp_path, [{"name": "w", "url": f"http://127.0.0.1:{closed_port}/h"}])
    notifier = Notifier(lambda: cfg)
    dropped = count("dropped")
    notifier.publish(About(1), "failed", "outside the controller's loop", {})
    assert count("dropped") - dropped == 1, "no running loop: dropped, not raised"

    async def lifecycle() -> None:
        notifier.publish(About(1), "warm_replaced", "internal", {})
        assert notifier._channels == {}, "an internal event queues nothing"
        await notifier.aclose(timeout_s=1)
        notifier.publish(About(1), "failed", "after close", {})

    asyncio.run(lifecycle())
    assert count("dropped") - dropped == 2
    assert notifier._channels == {}


def test_a_failure_without_a_recorder_is_logged_and_a_broken_config_does_not_stop_the_queue(
    tmp_path: Path, closed_port: int
) -> None:
    cfg = config(tmp_path, [{"name": "w", "url": f"http://127.0.0.1:{closed_port}/h",
                             "retries": 0}])  # fmt: skip
    broken: list[bool] = [False]

    def reloaded() -> Config:
        if broken[0]:
            raise RuntimeError("config reload failed")
        return cfg

    notifier = Notifier(reloaded)
    failed = count("failed")

    async def three() -> list[Any]:
        hook = cfg.notifications.webhooks[0]
        results = []
        for broke in (False, True, False):  # a reload that broke, between two good ones
            broken[0] = broke
            results.append(await notifier.send(hook, notice()))
        await notifier.aclose(timeout_s=1)
        return results

    with capture_logs() as logs:
        results = asyncio.run(three())
    assert [r.delivered for r in results] == [False, False, False]
    errors = [r.error for r in results]
    assert errors[0].startswith("ConnectError") and errors[2].startswith("ConnectError")
    assert "internal error: RuntimeError" in errors
    assert count("failed") - failed == 3
    assert sum(1 for e in logs if e["event"] == "notification not delivered") == 3


def test_a_deadline_shorter_than_one_attempt_ends_the_delivery(hanging_port: int) -> None:
    hook = fast(f"http://127.0.0.1:{hanging_port}/hook", timeout_s=30, retries=3, deadline_s=0.5)
    result = _deliver(hook)
    assert (result.delivered, result.attempts) == (False, 1)
    assert result.error == "no answer within its deadline of 0.5 s"
