"""Hooks whose secrets cannot be resolved, whose target refuses, or whose status is chosen."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

from tests.gates.servers import Serve
from tests.gates.test_hooks import context, producer_app, yield_hook
from tests.router.harness import closed_port
from v11ops.config import CommandHook
from v11ops.gates import command_hook, http_hook

pytestmark = pytest.mark.timeout(60)


def test_an_http_hook_with_an_unset_header_secret_fails_before_calling(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("V11_TEST_HOOK_TOKEN", raising=False)
    hook = yield_hook(headers={"Authorization": "env:V11_TEST_HOOK_TOKEN"})
    result = asyncio.run(http_hook(hook, context()))
    assert not result.passed
    evidence = result.evidence[0]
    assert evidence.check.endswith("/admin/v11/producer/yield headers")
    assert "environment variable V11_TEST_HOOK_TOKEN is not set" in str(evidence.observed)


def test_a_header_secret_read_from_a_file_is_sent(serve: Serve, tmp_path: Path) -> None:
    (tmp_path / "token").write_text("Bearer abc\n")
    calls: list[str] = []
    old = serve(producer_app(200, calls))
    hook = yield_hook(headers={"Authorization": "file:token"})
    result = asyncio.run(http_hook(hook, context(old=old), config_dir=tmp_path))
    assert result.passed and calls == ["/admin/v11/producer/yield"]


def test_an_http_hook_whose_target_refuses_says_so() -> None:
    old = f"http://127.0.0.1:{closed_port()}"
    result = asyncio.run(http_hook(yield_hook(), context(old=old)))
    assert not result.passed
    assert result.evidence[0].observed == "connection refused"


def test_an_expected_status_list_replaces_the_2xx_rule(serve: Serve) -> None:
    old = serve(producer_app(409, []))
    accepted = asyncio.run(http_hook(yield_hook(expect_status=[200, 409]), context(old=old)))
    assert accepted.passed and accepted.evidence[0].expected == [200, 409]
    refused = asyncio.run(http_hook(yield_hook(expect_status=[200]), context(old=old)))
    assert not refused.passed
    assert '"yielded":false' in refused.evidence[0].note.replace(" ", "")


def test_a_command_hook_with_an_unset_env_secret_is_not_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("V11_TEST_HOOK_SECRET", raising=False)
    marker = tmp_path / "ran"
    hook = CommandHook(
        name="migrate",
        kind="command",
        command=[sys.executable, "-c", f"open({str(marker)!r}, 'w')"],
        env={"DB_PASSWORD": "env:V11_TEST_HOOK_SECRET"},
    )
    result = asyncio.run(command_hook(hook, context(), config_dir=tmp_path))
    assert not result.passed
    assert result.evidence[0].check.endswith(" env")
    assert "V11_TEST_HOOK_SECRET is not set" in str(result.evidence[0].observed)
    assert not marker.exists()
